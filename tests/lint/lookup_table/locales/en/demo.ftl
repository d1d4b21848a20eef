demo-name = Your last name?
demo-name-too-short = At least { $min } letters, please.
demo-year = Your year of birth?
demo-year-digits = The year in 4 digits, please.
