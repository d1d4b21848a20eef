# Lingala: makomi oyo esalemi na projet.
# AWAITING REVIEW BY A NATIVE SPEAKER / EN ATTENTE DE RELECTURE PAR UN LOCUTEUR NATIF.
# Messages shared by every flow.

welcome =
    Boyei malamu na Mosali ya CIU!

    Nakotuna yo mituna { $total } mpo na kosala Code na yo ya Bomoko (CIU).

    CIU na yo ezali:
    - Ya yo moko
    - Ya sekele mpe ebatelami malamu
    - Okoki kozwa yango lisusu soki esengeli

    Koma RESTART mpo na kobanda lisusu.
    Koma HELP mpo na lisalisi.

    Tobanda!

question =
    Motuna { $number } na { $total }:

    { $text }

ack = Nasosoli!

help =
    Lisalisi: nakotuna yo mituna { $total }; biyano na yo esalelami kaka mpo na kosala CIU na yo, code oyo eyebisaka yo kozanga kolakisa kombo na yo.

    Okoki kokoma eyano mobimba (ndakisa kombo na yo mobimba): nakozwa kaka oyo esengeli.

    Mitindo:
    - RESTART: kobanda lisusu na ebandeli
    - BACK: kozonga na motuna oyo eleki
    - HELP: komona lisalisi oyo
    - FRANÇAIS, ENGLISH: kobongola monoko

restarted = Malamu, tobandi lisusu na ebandeli.

back = Malamu, tozongi na motuna oyo eleki.

back-at-start = Ozali kaka na motuna ya liboso.

language-switched = Malamu, nakokoba na lingala.

timeout = Session na yo esili nsima ya miniti { $minutes } kozanga eyano. Tobanda lisusu na ebandeli.

flow-updated = Mituna ebongwani. Tobanda lisusu na ebandeli.

non-text = Nakoki kotanga kaka makomi. Svp, yanola na message ya makomi.

empty-answer = Nazwi makomi te. Svp, koma eyano na yo.

answer-too-long = Message na yo eleki molai (mikanda { $max } mpo na koleka te). Svp, koma eyano ya mokuse.

received-all =
    Matondo! Nazwi makambo nyonso.

    Nazali kosala CIU na yo ya sekele...
    Zela moke...

completion =
    Code na yo ya Bomoko (CIU) esalami!

    CIU na yo:
    =====
    { $uic }
    =====

    Code oyo ekomami sikawa na kombo na yo.

    Batela code oyo! Okoki kosenga yango lisusu na kobanda lisolo ya sika.

    Koma RESTART mpo na kosala CIU ya sika to kobongisa makambo na yo.

completion-qr = Okozwa mpe QR code mpo na kozwa yango pete.

existing-code =
    CIU oyo esalamaki liboso.

    CIU na yo:
    =====
    { $uic }
    =====

    Ezali code yango moko: batela yango malamu.

    Koma RESTART mpo na kosala CIU ya sika to kobongisa makambo na yo.

qr-caption = CIU na yo: { $uic }

escalation =
    Bolimbisi, nakoki kososola biyano na yo te.

    Mpo na lisalisi, kende epai ya mosali ya kolongono to na centre de santé oyo apesaki yo nimero oyo.

    Tinda message ntango nyonso mpo na kobanda lisusu.

internal-error = Bolimbisi, mokakatano moko ya tekiniki epekisi ngai koyanola. Biyano na yo ebatelami: svp, meka lisusu nsima ya miniti moke.

slow-down = Ozali kotinda bamesaje noki mingi. Svp, zela mwa moke, sima yanola motuna ya nsuka.

confirm =
    Tala biyano na yo:
    { $summary }

    Ezali malamu? Yanola EE mpo na kosala CIU na yo, TE mpo na kobanda lisusu, to BACK mpo na kobongisa eyano ya nsuka.

confirm-line = { $number }. { $answer }

confirm-invalid = Svp, yanola EE to TE.

# Bouton oyo efungolaka liste ya maponi na WhatsApp (bilembo 20 to moke).
choices-button = Kopona

# Molongo ya nsuka ya liste molai (WhatsApp): elakisi oyo elandi. Bilembo 24 koleka te.
choices-more = Bisusu…

## Biyano oyo endimami te

error-name-characters = Svp, salela kaka mikanda (bilembo ya accent, bisika mpamba, tiret mpe apostrophe endimami), kozanga nimero to bilembo mosusu.

error-name-too-short = Svp, koma ata mikanda { $min }.

error-not-a-number = Svp, yanola na nimero.

error-birth-year = Svp, koma nimero moko (ndakisa 7) to mobu mobimba (ndakisa 1997).

error-full-year = Svp, koma mobu mobimba na nimero 4, kati na { $min } mpe { $max }.

error-day = Svp, koma mokolo kati na { $min } mpe { $max }.

error-city-characters = Svp, salela kaka mikanda mpo na engumba, kozanga nimero to bilembo.

error-city-too-short = Svp, koma ata mikanda { $min } mpo na engumba.

error-gender = Svp, yanola 1, 2, 3 to 4 (to Mobali, Mwasi, Trans, Mosusu).

# A step with a lookup table (`lookup:`): an answer close to one of its
# names, but not close enough to be sure. $name is the table's name.
# (To be reviewed by a Lingala speaker.)
lookup-confirm = Olingaki koloba { $name }?
lookup-yes = Ee
lookup-no = Te
