# Ce que dit `uic lint`, en français. Chaque message existe aussi dans en.ftl
# avec les mêmes variables (un test unitaire le vérifie). Ce qui est cité d'un
# questionnaire reste entre accents graves.

## Niveaux, écrits avant chaque message

level-error = erreur
level-warning = avertissement

## Syntaxe YAML

yaml-list-unclosed = une liste entre crochets n'est pas fermée{ $opened ->
        [0] {""}
       *[other] { " " }(ouverte ligne { $opened })
    } : ajoutez le `]` à sa fin, et des virgules entre ses éléments
yaml-mapping-unclosed = un ensemble entre accolades n'est pas fermé{ $opened ->
        [0] {""}
       *[other] { " " }(ouvert ligne { $opened })
    } : ajoutez le `{"}"}` à sa fin, et des virgules entre ses entrées
yaml-tab = cette ligne est indentée avec une tabulation : YAML exige des espaces, remplacez la tabulation par des espaces
yaml-backslash = une barre oblique inverse entre guillemets doubles doit être doublée, ou mettez le texte entre guillemets simples
yaml-backslash-escape = une barre oblique inverse entre guillemets doubles doit être doublée — écrivez `\\{ $char }` au lieu de `\{ $char }`, ou mettez le texte entre guillemets simples
yaml-item-dedented = cette ligne est moins indentée que la liste dont elle fait partie : alignez son `-` sur le `-` de la ligne { $item }
yaml-not-aligned = cette ligne n'est pas indentée comme les entrées qui l'entourent{ $opened ->
        [0] {""}
       *[other] { " " }(dans le bloc qui commence ligne { $opened })
    } : alignez-la sur les clés dont elle fait partie
yaml-over-indented = cette ligne est plus indentée que `{ $key }` ligne { $line }, elle se lit donc comme la suite de sa valeur : alignez-la sur `{ $key }`
yaml-colon-in-value = deux-points suivis d'une espace commencent une nouvelle clé, et cette ligne en a déjà une : mettez la valeur entre guillemets
yaml-colon-in-value-example = deux-points suivis d'une espace commencent une nouvelle clé, et cette ligne en a déjà une : mettez la valeur entre guillemets, par exemple `{ $key }: "{ $value }"`
yaml-quote-unclosed = ce guillemet `{ $quote }` n'est jamais fermé : ajoutez le `{ $quote }` fermant à la fin de la valeur
yaml-expected-colon = une clé doit être suivie de `: ` ; si cette ligne continue le texte du dessus, mettez ce texte entre guillemets
yaml-other = syntaxe YAML : { $detail }

## La forme du fichier (son schéma JSON)

schema-comment = la première ligne devrait être `{ $comment }../schemas/flow.schema.json` pour que les éditeurs vérifient le fichier
schema-at-root = le questionnaire
schema-at-path = `{ $path }`
schema-unknown-key = clé inconnue `{ $key }`
schema-unknown-key-hint = clé inconnue `{ $key }` (vouliez-vous dire `{ $hint }` ?)
schema-required = { $at } : il manque la clé obligatoire `{ $key }`
schema-type = { $at } : { $value } n'est pas { $expected }
schema-enum = { $at } : { $value } n'est pas l'une des valeurs { $options }
schema-const = { $at } : doit valoir { $expected }
schema-pattern = { $at } : { $value } n'est pas écrit comme attendu (la forme est `{ $pattern }`)
schema-min-length = { $at } : { $value } est trop court : au moins { $limit ->
        [one] un caractère
       *[other] { $limit } caractères
    }
schema-minimum = { $at } : { $value } est inférieur à { $limit }, le plus petit permis
schema-min-items = { $at } : il faut au moins { $limit ->
        [one] un élément
       *[other] { $limit } éléments
    }
schema-min-properties = { $at } : il faut au moins { $limit ->
        [one] une entrée
       *[other] { $limit } entrées
    }
schema-unique-items = { $at } : { $value } contient deux fois le même élément
schema-other = { $at } : { $detail }
type-integer = un nombre entier
type-number = un nombre
type-string = un texte
type-boolean = true ou false
type-array = une liste
type-object = un ensemble d'entrées `clé: valeur`
type-null = vide

## Le questionnaire

flow-unreadable = impossible de lire le questionnaire : { $detail }
flow-id-taken = l'identifiant de questionnaire `{ $id }` est aussi utilisé par { $file }
flow-extends-itself = le questionnaire `{ $id }` se prolonge lui-même à travers `{ $base }`
flow-extends-unknown = `extends` nomme un questionnaire inconnu, `{ $base }`
flow-default-language = la langue par défaut `{ $language }` n'est pas dans `languages`
flow-language-undeclared = la langue `{ $language }` n'est pas dans `languages`
flow-language-without-texts = le questionnaire `{ $flow }` accepte `{ $language }` mais il n'y a aucun texte dans locales/{ $language }/
flow-unknown-text = texte inconnu `{ $name }` (connus : { $known })
flow-unknown-command = commande inconnue `{ $name }` (connues : { $known })
flow-command-word-taken = `{ $word }` est déjà le mot d'une autre commande
version-formula-changed = la version { $version } du questionnaire `{ $id }` a déjà délivré des codes avec une autre formule ; passez `version` à { $next } pour que les anciens et les nouveaux codes restent distincts

## Étapes, règles et choix

step-duplicate-id = identifiant d'étape `{ $id }` en double{ $first ->
        [0] {""}
       *[other] { " " }(défini d'abord ligne { $first })
    }
step-unknown-preset = normaliseur inconnu `{ $name }` (préréglages : name, place, code, number, text, none ; étapes : trim, fold, upper, letters, digits, alnum, number, number_in_text)
step-unknown-normaliser = normaliseur inconnu `{ $name }` (connus : trim, fold, upper, letters, digits, alnum, number, number_in_text)
step-unknown-cleaner = nettoyage inconnu `{ $name }` (connus : { $known })
step-choices-need-error = une étape à choix a besoin d'un identifiant de message `error` pour les réponses qui ne correspondent à aucun choix
step-unused = la réponse à l'étape `{ $step }` n'est utilisée ni par la formule ni par la clé de doublon : utilisez-la dans `uic`, ou retirez l'étape
rule-on = `on` doit valoir `raw` ou `normalized`, pas `{ $value }`
rule-needs-error = une règle de validation a besoin d'un identifiant de message `error`
rule-year-max = `max` doit être une année ou `current`, pas `{ $value }`
rule-needs-a-check = une règle de validation a besoin de l'un de regex, min_length, max_length, range, year, one_of, any_of
rule-one-check = une règle de validation fait exactement une vérification ; écrivez plusieurs règles, chacune avec son message d'erreur
choice-same-value = les choix { $first } et { $second } ont la même valeur `{ $value }` : donnez à chaque choix sa propre valeur
choice-same-synonym = le synonyme `{ $synonym }` est donné aux choix { $first } et { $second } : une réponse `{ $synonym }` choisirait toujours le choix { $first } ; gardez-le dans un seul choix

## Expressions régulières

regex-invalid = expression régulière invalide : { $reason }
regex-invalid-at = expression régulière invalide : { $reason }, au caractère { $position } (`{ $char }`) de `{ $pattern }`
regex-invalid-at-end = expression régulière invalide : { $reason }, à la fin de `{ $pattern }`
regex-invalid-in = expression régulière invalide : { $reason }, dans `{ $pattern }`

## Exemples

example-unknown-step = l'exemple nomme une étape inconnue, `{ $step }`
example-needs-one = un exemple a besoin d'exactement un de `uic` et `uic_pattern`
example-missing-answer = l'exemple { $number } n'a pas de réponse pour l'étape `{ $step }`
example-refused = exemple { $number } : la réponse `{ $typed }` à l'étape `{ $step }` est refusée ({ $reason })
example-off-pattern = exemple { $number } : la formule donne `{ $code }`, qui ne correspond pas au motif de sortie `{ $pattern }`
example-fails = exemple { $number } : { $detail }
example-gives = l'exemple { $number } donne `{ $made }`, attendu : { $expected }
example-expected-code = `{ $code }`
example-expected-pattern = un code correspondant à `{ $pattern }`

## Formules

formula-what-formula = la formule
formula-what-key = la clé de doublon
formula-what-attribute = l'attribut DHIS2 { $attribute }
formula-does-not-parse = { $what } ne se lit pas : { $detail }
formula-unknown-steps = { $what } nomme { $count ->
        [one] une étape inconnue
       *[other] des étapes inconnues
    } { $names } (les étapes sont : { $known })
formula-fails = { $what } échoue : { $detail }
formula-unknown-filter = { $what } utilise un filtre inconnu, `{ $name }` (les filtres du projet : { $filters } ; et ceux de minijinja, comme { $builtin })
formula-unknown-filter-hint = { $what } utilise un filtre inconnu, `{ $name }` (vouliez-vous dire `{ $meant }` ?)
formula-unknown-filter-other = { $what } utilise un filtre inconnu : { $detail } (les filtres du projet : { $filters })
filter-needs-length = le filtre `{ $filter }` a besoin de la longueur à atteindre, par exemple `{ $filter }(3)` ou `{ $filter }(n=3)`
filter-fill = le filtre `{ $filter }` attend un caractère entre guillemets pour `fill`, par exemple `{ $filter }({ $n }, fill="{ $fill }")`
filter-too-many-arguments = le filtre `{ $filter }` prend au plus { $max ->
        [one] un argument
       *[other] { $max } arguments
    } ({ $names }), pas { $given }
filter-unknown-argument = le filtre `{ $filter }` n'a pas d'argument `{ $name }` (ses arguments : { $names })
filter-argument-twice = le filtre `{ $filter }` reçoit `{ $name }` deux fois, par position et par nom
filter-whole-number = le filtre `{ $filter }` attend un nombre entier pour `{ $name }`, par exemple `{ $filter }(3)`, pas `{ $value }`

## DHIS2

dhis2-typed-answer = { $what } enverrait la réponse à `{ $step }`, qui est tapée librement et peut nommer la personne ou un lieu : seuls `{ $uic }` et les réponses choisies dans une liste peuvent être envoyés à DHIS2
dhis2-unknown-variable = { $what } nomme une variable inconnue, `{ $name }` (le code est `{ $uic }` ; les étapes sont : { $known })
dhis2-org-unit-unknown-step = unité d'organisation tirée d'une étape inconnue, `{ $step }` (les étapes sont : { $known })
dhis2-org-unit-typed = l'unité d'organisation ne peut venir que d'une étape à choix : `{ $step }` est répondue librement, et un lieu tapé par une personne n'est jamais envoyé à DHIS2
dhis2-lookup-not-a-choice = `{ $key }` n'est pas un choix de l'étape `{ $step }` (ses valeurs : { $values })
dhis2-lookup-missing = pas d'unité d'organisation pour { $count ->
        [one] le choix { $choices } de l'étape `{ $step }` : ajoutez-le
       *[other] les choix { $choices } de l'étape `{ $step }` : ajoutez-les
    } ou un `default`

## Textes (fichiers Fluent)

fluent-not-a-language = `{ $language }` n'est pas un code de langue
fluent-syntax = erreur de syntaxe Fluent : { $detail }
fluent-syntax-in-message = erreur de syntaxe Fluent dans le message `{ $id }` : { $detail }
message-defined-twice = le message `{ $id }` est défini deux fois en `{ $language }` (aussi { $place })
message-missing = le message `{ $id }` manque en `{ $language }` (questionnaire `{ $flow }`) : ajoutez-le à { $file }
message-unknown-variable = le message `{ $id }` utilise la variable `${ $variable }`, qui n'est pas fournie ({ $offered })
message-given-nothing = il ne reçoit aucune variable
message-given = il reçoit { $variables }
message-variables-differ = les variables du message `{ $id }` diffèrent selon la langue : { $variables } en `{ $language }`, { $reference-variables } en `{ $reference }` ({ $place })
variables-none = aucune
message-unused = le message `{ $id }` n'est utilisé par aucun questionnaire

## Les limites de WhatsApp

whatsapp-paged = l'étape `{ $step }` a { $count } choix : les listes WhatsApp montrent { $rows } lignes, elles seront donc découpées en pages ({ $per-page } par page + `{ $more }`) ; on peut aussi taper un choix ou son numéro
whatsapp-number-order = la valeur de choix `{ $number }` est le choix numéro { $position } de l'étape `{ $step }`, mais un { $number } tapé choisit le choix numéro { $number } (Twilio et chat les numérotent ainsi) ; mettez les valeurs numériques dans l'ordre (1, 2, 3…) ou utilisez des mots
whatsapp-label-too-long = l'intitulé de choix `{ $label }` fait { $length } caractères en `{ $language }` ; les { $shown } de WhatsApp en permettent { $limit } : raccourcissez-le (les détails peuvent aller dans la question)
whatsapp-reply-buttons = boutons de réponse
whatsapp-list-rows = lignes de liste
whatsapp-message-too-long = le message `{ $id }` fait { $length } caractères en `{ $language }` ; { $shown } en permet { $limit } : raccourcissez-le
whatsapp-reply-button = un bouton de réponse WhatsApp
whatsapp-list-button = le bouton WhatsApp qui ouvre une liste
whatsapp-more-row = la dernière ligne d'une liste WhatsApp découpée en pages

## Le bilan qui termine `uic lint`

lint-failed = { $errors ->
        [one] une erreur
       *[other] { $errors } erreurs
    }, { $warnings ->
        [0] aucun avertissement
        [one] un avertissement
       *[other] { $warnings } avertissements
    }
lint-passed = ok : aucune erreur, { $warnings ->
        [0] aucun avertissement
        [one] un avertissement
       *[other] { $warnings } avertissements
    }

## Pourquoi une expression régulière est invalide (les raisons les plus fréquentes)

regex-class-unclosed = un `[` n'est jamais fermé par un `]`
regex-group-unclosed = une `(` n'est jamais fermée par une `)`
regex-group-unopened = une `)` ne ferme aucune `(`
regex-count-unclosed = une `{"{"}` n'est jamais fermée par une `{"}"}`
regex-count-backwards = dans `{"{"}min,max{"}"}` le premier nombre ne doit pas dépasser le second
regex-count-not-a-number = `{"{"}…{"}"}` doit contenir un ou deux nombres, comme `{"{"}4{"}"}` ou `{"{"}2,3{"}"}`
regex-repeats-nothing = `*`, `+`, `?` ou `{"{"}…{"}"}` doivent suivre ce qu'ils répètent (écrivez `\+` pour un simple plus)
regex-escape-unknown = cette séquence avec une barre oblique inverse ne veut rien dire (écrivez `\\` pour une simple barre oblique inverse)
regex-escape-incomplete = le motif se termine par une barre oblique inverse seule
regex-range-backwards = dans un intervalle `a-z` le premier caractère doit venir avant le second
regex-look-around = les assertions avant et arrière (`(?=`, `(?!`, `(?<=`) ne sont pas prises en charge
regex-backreference = les références arrière comme `\1` ne sont pas prises en charge
regex-flag-unknown = option inconnue après `(?` : utilisez i, m, s, x ou u

## Pourquoi un fichier Fluent ne se lit pas (les erreurs les plus fréquentes)

fluent-brace-unclosed = une `{"{"}` n'est pas fermée : ajoutez la `{"}"}`
fluent-expected-token = `{ $token }` est attendu ici
fluent-default-variant-missing = un choix de variantes a besoin d'une variante par défaut, marquée d'une `*`, comme `*[other]`
fluent-default-variant-twice = une seule variante peut être celle par défaut (`*`)
fluent-no-text = le message n'a pas de texte après `=`
fluent-quote-unclosed = un texte entre guillemets dans `{"{"} {"}"}` n'est pas fermé
fluent-brace-unopened = une `{"}"}` ne ferme rien : retirez-la, ou écrivez `{"{"}"{"}"}"{"}"}` pour l'afficher
fluent-empty-placeable = `{"{"} {"}"}` doit contenir une variable comme `{"{"} $name {"}"}`, un message, ou un texte entre guillemets
fluent-parser-says = { $detail }

## Tables de correspondance

lookup-table-missing = il n'y a pas de table `{ $table }` à côté de ce questionnaire : mettez le fichier CSV dans { $folder }
lookup-unreadable = cette table ne se lit pas : { $reason }
lookup-duplicate = `{ $name }` est déjà ligne { $first } avec le même code : retirez-en un
lookup-clash = `{ $name }` donne `{ $code }` ici mais `{ $first-code }` ligne { $first } : un nom doit donner un seul code
lookup-code-changed = la formule change le code `{ $code }` (de `{ $name }`) en `{ $made }` ({ $expression }) : écrivez chaque code tel que la formule le garde
