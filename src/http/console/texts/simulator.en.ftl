# The simulator page's texts (en).
