# Parcours legacy: les questions « placeholder » du premier guide (AAA-MMMM-JJ-NNN-LLLL-HHHHH).

legacy-welcome =
    Bienvenue au Générateur CIU!

    Je vais vous poser { $total } questions pour générer votre Code d'Identification Unique (CIU). Donnez les informations complètes: le système extrait ce qu'il faut.

    Tapez RESTART pour recommencer.
    Tapez HELP pour de l'aide.

    Commençons!

legacy-birth-year =
    En quelle année êtes-vous né(e) ?

    Exemple: 1985

legacy-mother-place =
    Où est née votre mère ?

    Exemple: Kinshasa

legacy-first-name =
    Quel est votre prénom ?

    Exemple: Jean

legacy-birth-day =
    Quel jour du mois êtes-vous né(e) ?

    Exemple: 15

legacy-last-name =
    Quel est votre nom de famille ?

    Exemple: Kabila
