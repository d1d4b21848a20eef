# The dashboard page's texts (fr).
