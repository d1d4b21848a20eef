# Lingala: makomi oyo esalemi na projet.
# AWAITING REVIEW BY A NATIVE SPEAKER / EN ATTENTE DE RELECTURE PAR UN LOCUTEUR NATIF.
# Flows drc-fr and drc-ln: the DRC UIC (LLLFFFYCCG).

drc-last-name =
    Mikanda 3 ya liboso ya kombo na yo ya libota ezali nini?

    Ndakisa: MUK (mpo na Mukendi)

drc-first-name =
    Mikanda 3 ya liboso ya kombo na yo ya liboso ezali nini?

    Ndakisa: GRA (mpo na Grâce)

drc-birth-year =
    Nimero ya nsuka ya mobu oyo obotamaki ezali nini?

    Ndakisa: 7 (mpo na 1997)

drc-birth-city =
    Code ya engumba oyo obotamaki ezali nini?
    (mikanda 2)

    Ndakisa: KI (mpo na Kinshasa)

drc-gender =
    Code na yo ya mobali to mwasi ezali nini?

gender-male = Mobali
gender-female = Mwasi
gender-trans = Trans
gender-other = Mosusu
