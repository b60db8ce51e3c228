package parser_test

import "flag"

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated grammar block of docs/language.md")
