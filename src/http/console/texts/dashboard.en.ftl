# The dashboard page's texts (en).
