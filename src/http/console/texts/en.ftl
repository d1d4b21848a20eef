# Texts of the staff console (not those of conversations: locales/).
console-title = uic console
nav-simulator = Simulator
nav-dashboard = Dashboard
nav-sign-out = Sign out
nav-language = Français
sign-in-title = Staff sign-in
sign-in-help = Enter the server's admin token (ADMIN_TOKEN).
sign-in-token = Token
sign-in-submit = Sign in
sign-in-refused = That is not the right token. Check ADMIN_TOKEN and try again.
sign-in-slowed = Too many failed attempts: wait a minute before trying again.
sign-in-expired = Your session has expired: sign in again.
home-intro = Try flows as on a phone, and see how the program is doing.
home-simulator = Try a flow without touching real data.
home-dashboard = Codes issued, conversations, the question funnel, the outbox and DHIS2.
forbidden = This action was refused (the form expired or came from another site). Reload the page.
home-flows = Flows
home-flows-ok = Every flow passes uic lint and is served.
home-flows-failing = { $count ->
    [one] One flow does not pass uic lint: it is not served.
   *[other] { $count } flows do not pass uic lint: they are not served.
}
home-reload = Reload flows and texts
home-reload-help = After editing the files: the new ones replace the old only if the default flow passes uic lint.
home-reloaded = Flows and texts reloaded: the new ones are served.
home-reload-refused = Reload refused: the flows from before keep serving. To fix:
home-reload-unavailable = The server could not reload now; try again, or see its log.
