# The simulator page's texts (fr).
