# Messages shared by every flow.

welcome =
    Welcome to the UIC Generator!

    I will ask you { $total } questions to generate your Unique Identifier Code (UIC).

    Your UIC is:
    - Unique to you
    - Private and secure
    - Can be generated again if needed

    Type RESTART to start over.
    Type HELP for help.

    Let's begin!

question =
    Question { $number } of { $total }:

    { $text }

ack = Got it!

help =
    Help: I ask you { $total } questions; your answers are only used to compute your UIC, a code that identifies you without revealing your name.

    You can write the full answer (your whole name, for example): I keep only what is needed.

    Commands:
    - RESTART: start again from the beginning
    - BACK: go back to the previous question
    - HELP: show this help
    - FRANÇAIS, LINGALA: change language

restarted = All right, let's start again from the beginning.

back = All right, back to the previous question.

back-at-start = You are already at the first question.

language-switched = All right, I will continue in English.

timeout = Your session expired after { $minutes } minutes without an answer. Let's start again from the beginning.

flow-updated = The questions have been updated. Let's start again from the beginning.

non-text = I can only read text. Please answer with a written message.

empty-answer = I did not receive any text. Please write your answer.

answer-too-long = Your message is too long ({ $max } characters at most). Please write a short answer.

received-all =
    Thank you! I have all the information.

    Generating your secure UIC...
    Please wait...

completion =
    Your Unique Identifier Code has been generated!

    Your UIC:
    =====
    { $uic }
    =====

    This code is now registered to you.

    Save this code! You can ask for it again by starting a new conversation.

    Type RESTART to generate a new UIC or update your information.

completion-qr = You will also receive a QR code for easy access.

existing-code =
    This UIC was already generated before.

    Your UIC:
    =====
    { $uic }
    =====

    It is the same code: keep it safe.

    Type RESTART to generate a new UIC or update your information.

qr-caption = Your UIC: { $uic }

escalation =
    Sorry, I cannot understand your answers.

    For help, please contact the health worker or health centre that gave you this number.

    Send a message whenever you want to start again.

internal-error = Sorry, a technical problem prevents me from answering. Your answers are kept: please try again in a few minutes.

slow-down = You are sending messages too quickly. Please wait a moment, then answer the last question.

confirm =
    Here are your answers:
    { $summary }

    Are they correct? Answer YES to generate your UIC, NO to start again, or BACK to correct the last answer.

confirm-line = { $number }. { $answer }

confirm-invalid = Please answer YES or NO.

# The button that opens the list of choices on WhatsApp (at most 20 characters).
choices-button = Choose

# Last row of a long list of choices (WhatsApp): shows the next ones. At most 24 characters.
choices-more = More…

## Refused answers

error-name-characters = Please use letters only (accents, spaces, hyphens and apostrophes are fine), no digits or symbols.

error-name-too-short = Please write at least { $min } letters.

error-not-a-number = Please answer with digits.

error-birth-year = Please write a single digit (for example 7) or the full year (for example 1997).

error-full-year = Please write the full year in 4 digits, between { $min } and { $max }.

error-day = Please write a day between { $min } and { $max }.

error-city-characters = Please use letters only for the city, no digits or symbols.

error-city-too-short = Please write at least { $min } letters for the city.

error-gender = Please answer 1, 2, 3 or 4 (or Male, Female, Trans, Other).

# A step with a lookup table (`lookup:`): an answer close to one of its
# names, but not close enough to be sure. $name is the table's name.
lookup-confirm = Did you mean { $name }?
lookup-yes = Yes
lookup-no = No
