# Prints the fenced code block that follows the line `<!-- make test: ID ... -->` in a Markdown
# file (awk -v id=ID -f block.awk README.md), so that tests run the README's commands as printed.
index($0, "<!-- make test: " id " ") == 1 { marked = 1; next }
marked && /^```/ { if (inside) exit; inside = 1; next }
inside { print }
