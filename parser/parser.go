package parser

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"

	"github.com/mlpipe/mlpipe/lang"
)

// LanguageVersion is the version of the .mlp language this parser reads, as
// written in a file's "mlpipe N" header.
const LanguageVersion = 1

// Parse parses one .mlp file. It returns the syntax tree, as complete as the
// input allows, and an error carrying lang diagnostics (see
// lang.DiagnosticsOf) if the file is malformed. A syntax error stops the
// parse: participle reports the first one.
func Parse(filename string, src []byte) (*lang.File, error) {
	l := newLowerer(filename, src)
	cst, perr := fileParser.ParseBytes(filename, src)
	f := l.file_(cst, filename, src)
	f.Comments = comments(filename, src)
	rawVersion, hasHeader := "", cst != nil && cst.Header != nil
	if hasHeader {
		rawVersion = cst.Header.Version
	} else if raw, span, ok := scanHeader(l, src); ok {
		// The parse failed before it reached the header (a lexing error
		// anywhere in the file stops participle before it starts), but
		// the header is there: the version decides what to report.
		rawVersion, hasHeader = raw, true
		f.Header = span
		f.Version, _ = strconv.Atoi(raw)
	}
	if hasHeader && f.Version != LanguageVersion {
		// A newer language may have a grammar this parser cannot read:
		// report only the version.
		return f, lang.Diagnostics{lang.Errorf(f.Header,
			"this file is written for mlpipe language version %s, but this mlpipe reads version %d", rawVersion, LanguageVersion).
			WithNote("upgrade mlpipe to run it")}.Err()
	}
	if perr != nil {
		// Lowering a partial tree can find problems only in what parsed
		// before the syntax error; anything at or after it is an artefact
		// of the missing part.
		serr := syntaxError(filename, src, perr)
		var keep lang.Diagnostics
		for _, d := range l.diags {
			if d.Span.IsValid() && d.Span.Start.Before(serr.Span.Start) {
				keep.Add(d)
			}
		}
		l.diags = append(keep, serr)
	} else if !hasHeader {
		start := lang.Pos{Offset: 0, Line: 1, Col: 1}
		if len(f.Stmts) > 0 {
			start = f.Stmts[0].Span().Start
		}
		l.diags.Errorf(lang.Span{File: filename, Start: start, End: start},
			"missing language header").WithNote("start the file with the line: mlpipe %d", LanguageVersion)
	}
	return f, l.diags.Err()
}

// ParseExpr parses a single expression, such as the value of a --set
// override. name labels positions in diagnostics.
func ParseExpr(name, src string) (lang.Expr, error) {
	l := newLowerer(name, []byte(src))
	cst, err := exprParser.ParseString(name, src)
	if err != nil {
		return nil, lang.Diagnostics{syntaxError(name, []byte(src), err)}.Err()
	}
	e := l.expr(cst)
	return e, l.diags.Err()
}

// syntaxError converts a participle error into a diagnostic with a message
// in mlpipe's words.
func syntaxError(filename string, src []byte, err error) *lang.Diagnostic {
	var perr participle.Error
	pos := lexer.Position{Filename: filename, Line: 1, Column: 1}
	msg := err.Error()
	if errors.As(err, &perr) {
		pos = perr.Position()
		msg = perr.Message()
	}
	p := posAt(src, pos)
	if p.Line == 0 {
		p = lang.Pos{Line: 1, Col: 1}
	}
	end := p
	if p.Offset < len(src) {
		end = advance(p, tokenAt(src[p.Offset:]))
	}
	d := lang.Errorf(lang.Span{File: filename, Start: p, End: end}, "syntax error: %s", friendly(msg, src, p))
	return d
}

// tokenAt returns the text of the token starting src (a rough cut for the
// caret's length).
func tokenAt(src []byte) string {
	n := 0
	for n < len(src) && n < 40 {
		c := src[n]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		n++
		if strings.IndexByte("()[]{},:=|+-*/.", c) >= 0 {
			break
		}
	}
	if n == 0 && len(src) > 0 {
		n = 1
	}
	return string(src[:n])
}

// friendly rewrites participle's messages into plainer ones.
func friendly(msg string, src []byte, p lang.Pos) string {
	switch {
	case strings.Contains(msg, "invalid input text"):
		rest := src[min(p.Offset, len(src)):]
		if len(rest) > 0 && rest[0] == '"' {
			return badString(rest)
		}
		if len(rest) > 0 {
			r, _ := utf8.DecodeRune(rest)
			return fmt.Sprintf("unexpected character %q", string(r))
		}
	case strings.HasPrefix(msg, "unexpected token \"<EOF>\""):
		msg = "unexpected end of file" + strings.TrimPrefix(msg, "unexpected token \"<EOF>\"")
	}
	return ruleNames.Replace(msg)
}

// ruleNames rewrites the grammar's rule names, which participle puts in
// "expected ..." messages, into words.
var ruleNames = strings.NewReplacer(
	"expected Postfix", "expected an expression",
	"expected Unary", "expected an expression",
	"expected Product", "expected an expression",
	"expected Sum", "expected an expression",
	"expected Expression", "expected an expression",
	"expected Primary", "expected an expression",
	"\"=\" Expression", "\"=\" and a value",
	"expected Name", "expected a name",
	"expected Argument", "expected an argument",
	"\"{\" Attribute* \"}\"", "\"{\"",
	"<ident>", "a name",
	"<string>", "a string",
	"<int>", "an integer",
)

// comments returns every comment in src, in order. It lexes the file again
// with the same rules; on a lexing error it returns what it found so far.
func comments(filename string, src []byte) []*lang.Comment {
	lex, err := mlpLexer.Lex(filename, bytes.NewReader(src))
	if err != nil {
		return nil
	}
	l := newLowerer(filename, src)
	commentType := mlpLexer.Symbols()["Comment"]
	var out []*lang.Comment
	for {
		t, err := lex.Next()
		if err != nil || t.EOF() {
			return out
		}
		if t.Type == commentType {
			text := strings.TrimRight(t.Value, " \t\r")
			out = append(out, &lang.Comment{Text: text, At: l.textSpan(t.Pos, text)})
		}
	}
}

// badString explains why the string literal at the start of src does not
// lex: an escape the language lacks, or no closing quote on its line.
func badString(src []byte) string {
	for i := 1; i < len(src); i++ {
		switch src[i] {
		case '\\':
			if i+1 < len(src) && strings.IndexByte(`\\"nt`, src[i+1]) >= 0 {
				i++
				continue
			}
			if i+1 < len(src) && src[i+1] != '\n' && src[i+1] != '\r' {
				r, size := utf8.DecodeRune(src[i+1:])
				esc := string(src[i : i+1+size])
				if r == utf8.RuneError && size == 1 {
					esc = fmt.Sprintf("\\x%02x", src[i+1])
				}
				return fmt.Sprintf("invalid escape %s in string (the escapes are \\\\, \\\", \\n and \\t)", esc)
			}
		case '\n':
			return "unterminated string (a string ends with \" on the same line)"
		}
	}
	return "unterminated string (a string ends with \" on the same line)"
}

// scanHeader looks for the "mlpipe N" header among the first tokens of src,
// skipping blanks and comments, without parsing the rest. It returns the
// version as written and the header's span.
func scanHeader(l *lowerer, src []byte) (string, lang.Span, bool) {
	lex, err := mlpLexer.Lex(l.file, bytes.NewReader(src))
	if err != nil {
		return "", lang.Span{}, false
	}
	sym := mlpLexer.Symbols()
	var toks []lexer.Token
	for len(toks) < 2 {
		t, err := lex.Next()
		if err != nil || t.EOF() {
			return "", lang.Span{}, false
		}
		if !l.skip[t.Type] {
			toks = append(toks, t)
		}
	}
	if toks[0].Type != sym["Ident"] || toks[0].Value != "mlpipe" || toks[1].Type != sym["Int"] {
		return "", lang.Span{}, false
	}
	return toks[1].Value, lang.Span{File: l.file, Start: l.pos(toks[0].Pos), End: l.endOf(toks)}, true
}
