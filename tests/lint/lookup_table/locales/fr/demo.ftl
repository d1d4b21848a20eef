demo-name = Votre nom ?
demo-name-too-short = Au moins { $min } lettres, s'il vous plaît.
demo-year = Votre année de naissance ?
demo-year-digits = L'année en 4 chiffres, s'il vous plaît.
