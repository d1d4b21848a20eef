# Flows drc-fr and drc-ln: the DRC UIC (LLLFFFYCCG).

drc-last-name =
    What are the first 3 letters of your last name?

    Example: MUK (for Mukendi)

drc-first-name =
    What are the first 3 letters of your first name?

    Example: GRA (for Grâce)

drc-birth-year =
    What is the last digit of your year of birth?

    Example: 7 (for 1997)

drc-birth-city =
    What is the code of your city of birth?
    (2 letters)

    Example: KI (for Kinshasa)

drc-gender =
    What is your gender code?

gender-male = Male
gender-female = Female
gender-trans = Trans
gender-other = Other
