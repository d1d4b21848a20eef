# Messages partagés par tous les parcours.
# Le texte suit la conversation de référence du guide de déploiement (seed 000).

welcome =
    Bienvenue au Générateur CIU!

    Je vais vous poser { $total } questions pour générer votre Code d'Identification Unique (CIU).

    Votre CIU est:
    - Unique pour vous
    - Privé et sécurisé
    - Peut être régénéré si nécessaire

    Tapez RESTART pour recommencer.
    Tapez HELP pour de l'aide.

    Commençons!

question =
    Question { $number } sur { $total }:

    { $text }

ack = Compris!

help =
    Aide: je vous pose { $total } questions; vos réponses servent uniquement à calculer votre CIU, un code qui vous identifie sans révéler votre nom.

    Vous pouvez écrire la réponse complète (par exemple votre nom entier): je garde seulement ce qu'il faut.

    Commandes:
    - RESTART: recommencer depuis le début
    - BACK: revenir à la question précédente
    - HELP: afficher cette aide
    - LINGALA, ENGLISH: changer de langue

restarted = D'accord, on recommence depuis le début.

back = D'accord, revenons à la question précédente.

back-at-start = Vous êtes déjà à la première question.

language-switched = D'accord, je continue en français.

timeout = Votre session a expiré après { $minutes } minutes sans réponse. Recommençons depuis le début.

flow-updated = Les questions ont été mises à jour. Recommençons depuis le début.

non-text = Je ne peux lire que du texte. Veuillez répondre par un message écrit.

empty-answer = Je n'ai reçu aucun texte. Veuillez écrire votre réponse.

answer-too-long = Votre message est trop long ({ $max } caractères au plus). Veuillez écrire une réponse courte.

received-all =
    Merci! J'ai toutes les informations.

    Génération de votre CIU sécurisé...
    Veuillez patienter...

completion =
    Votre Code d'Identification Unique a été généré!

    Votre CIU:
    =====
    { $uic }
    =====

    Ce code est maintenant enregistré à votre nom.

    Sauvegardez ce code! Vous pouvez le redemander en commençant une nouvelle conversation.

    Tapez RESTART pour générer un nouveau CIU ou mettre à jour vos informations.

completion-qr = Vous recevrez également un code QR pour un accès facile.

existing-code =
    Ce CIU a déjà été généré auparavant.

    Votre CIU:
    =====
    { $uic }
    =====

    C'est bien le même code: gardez-le précieusement.

    Tapez RESTART pour générer un nouveau CIU ou mettre à jour vos informations.

qr-caption = Votre CIU: { $uic }

escalation =
    Désolé, je n'arrive pas à comprendre vos réponses.

    Pour obtenir de l'aide, adressez-vous à l'agent de santé ou au centre de santé qui vous a donné ce numéro.

    Envoyez un message quand vous voulez pour recommencer.

internal-error = Désolé, un problème technique m'empêche de répondre. Vos réponses sont conservées: veuillez réessayer dans quelques minutes.

slow-down = Vous envoyez des messages trop vite. Attendez un instant, puis répondez à la dernière question.

confirm =
    Voici vos réponses:
    { $summary }

    Sont-elles correctes? Répondez OUI pour générer votre CIU, NON pour recommencer, ou BACK pour corriger la dernière réponse.

confirm-line = { $number }. { $answer }

confirm-invalid = Veuillez répondre OUI ou NON.

# Le bouton qui ouvre la liste des choix sur WhatsApp (20 caractères au plus).
choices-button = Choisir

# Dernière ligne d'une longue liste de choix (WhatsApp) : affiche les suivants. 24 caractères au plus.
choices-more = Autres…

## Réponses refusées

error-name-characters = Veuillez n'utiliser que des lettres (les accents, espaces, tirets et apostrophes sont acceptés), sans chiffres ni symboles.

error-name-too-short = Veuillez écrire au moins { $min } lettres.

error-not-a-number = Veuillez répondre avec des chiffres.

error-birth-year = Veuillez écrire un seul chiffre (par exemple 7) ou l'année complète (par exemple 1997).

error-full-year = Veuillez écrire l'année complète en 4 chiffres, entre { $min } et { $max }.

error-day = Veuillez écrire un jour entre { $min } et { $max }.

error-city-characters = Veuillez n'utiliser que des lettres pour la ville, sans chiffres ni symboles.

error-city-too-short = Veuillez écrire au moins { $min } lettres pour la ville.

error-gender = Veuillez répondre 1, 2, 3 ou 4 (ou Homme, Femme, Trans, Autre).

# Une étape avec une table de correspondance (`lookup:`) : une réponse proche
# d'un de ses noms, sans certitude. $name est le nom de la table.
lookup-confirm = Vouliez-vous dire { $name } ?
lookup-yes = Oui
lookup-no = Non
