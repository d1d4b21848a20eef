demo-name = Your last name?
demo-name-too-short = Too short, please write more letters.
demo-year = Your year of birth?
demo-year-digits = The year in 4 digits, please.
