# Flow legacy: the placeholder questions of the first guide (AAA-MMMM-JJ-NNN-LLLL-HHHHH).

legacy-welcome =
    Welcome to the UIC Generator!

    I will ask you { $total } questions to generate your Unique Identifier Code (UIC). Give the full information: the system extracts what it needs.

    Type RESTART to start over.
    Type HELP for help.

    Let's begin!

legacy-birth-year =
    In what year were you born?

    Example: 1985

legacy-mother-place =
    Where was your mother born?

    Example: Kinshasa

legacy-first-name =
    What is your first name?

    Example: Jean

legacy-birth-day =
    On what day of the month were you born?

    Example: 15

legacy-last-name =
    What is your last name?

    Example: Kabila
