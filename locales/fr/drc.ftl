# Parcours drc-fr et drc-ln: le CIU de la RDC (LLLFFFYCCG).

drc-last-name =
    Quelles sont les 3 premières lettres de votre nom de famille?

    Exemple: MUK (pour Mukendi)

drc-first-name =
    Quelles sont les 3 premières lettres de votre prénom?

    Exemple: GRA (pour Grâce)

drc-birth-year =
    Quel est le dernier chiffre de votre année de naissance?

    Exemple: 7 (pour 1997)

drc-birth-city =
    Quel est le code de votre ville de naissance?
    (2 lettres)

    Exemple: KI (pour Kinshasa)

drc-gender =
    Quel est votre code de genre?

gender-male = Homme
gender-female = Femme
gender-trans = Trans
gender-other = Autre
