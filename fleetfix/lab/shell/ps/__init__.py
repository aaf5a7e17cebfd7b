"""A Windows PowerShell 5.1 subset: parsed with tree-sitter-powershell (parser.py), evaluated
over the syntax tree (interpreter.py, statements.py, expressions.py), with the cmdlets the
lab's hosts need (cmdlets/) and 5.1's output rules (json51.py, formatting.py, errors_text.py)."""
