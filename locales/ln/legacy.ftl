# Lingala: makomi oyo esalemi na projet.
# AWAITING REVIEW BY A NATIVE SPEAKER / EN ATTENTE DE RELECTURE PAR UN LOCUTEUR NATIF.
# Flow legacy: the placeholder questions of the first guide (AAA-MMMM-JJ-NNN-LLLL-HHHHH).

legacy-welcome =
    Boyei malamu na Mosali ya CIU!

    Nakotuna yo mituna { $total } mpo na kosala Code na yo ya Bomoko (CIU). Pesa makambo mobimba: système ekozwa oyo esengeli.

    Koma RESTART mpo na kobanda lisusu.
    Koma HELP mpo na lisalisi.

    Tobanda!

legacy-birth-year =
    Obotamaki na mobu nini?

    Ndakisa: 1985

legacy-mother-place =
    Mama na yo abotamaki wapi?

    Ndakisa: Kinshasa

legacy-first-name =
    Kombo na yo ya liboso ezali nini?

    Ndakisa: Jean

legacy-birth-day =
    Obotamaki na mokolo ya boni ya sanza?

    Ndakisa: 15

legacy-last-name =
    Kombo na yo ya libota ezali nini?

    Ndakisa: Kabila
