# Textes de la console du personnel (pas ceux des conversations : locales/).
console-title = Console uic
nav-simulator = Simulateur
nav-dashboard = Tableau de bord
nav-sign-out = Se déconnecter
nav-language = English
sign-in-title = Connexion du personnel
sign-in-help = Entrez le jeton d'administration (ADMIN_TOKEN) du serveur.
sign-in-token = Jeton
sign-in-submit = Se connecter
sign-in-refused = Ce jeton n'est pas le bon. Vérifiez ADMIN_TOKEN et réessayez.
sign-in-slowed = Trop d'essais manqués : attendez une minute avant de réessayer.
sign-in-expired = Votre session a expiré : connectez-vous à nouveau.
home-intro = Essayez les questionnaires comme sur un téléphone, et voyez comment va le programme.
home-simulator = Essayer un questionnaire, sans toucher aux vraies données.
home-dashboard = Codes émis, conversations, entonnoir des questions, file d'envoi et DHIS2.
forbidden = Cette action a été refusée (formulaire expiré ou venant d'un autre site). Rechargez la page.
home-flows = Questionnaires
home-flows-ok = Tous les questionnaires passent uic lint et sont servis.
home-flows-failing = { $count ->
    [one] Un questionnaire ne passe pas uic lint : il n'est pas servi.
   *[other] { $count } questionnaires ne passent pas uic lint : ils ne sont pas servis.
}
home-reload = Recharger les questionnaires et les textes
home-reload-help = Après une modification des fichiers : les nouveaux remplacent les anciens seulement si le questionnaire par défaut passe uic lint.
home-reloaded = Questionnaires et textes rechargés : les nouveaux sont servis.
home-reload-refused = Rechargement refusé : les questionnaires d'avant restent servis. À corriger :
home-reload-unavailable = Le serveur n'a pas pu recharger maintenant ; réessayez, ou voyez son journal.
