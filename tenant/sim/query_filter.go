package sim

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// A $filter is compiled once per request into a predicate over stored JSON bytes. The
// grammar is what a backup, a restore and an incident responder use (graph-spec §4.3):
// eq, ne (advanced), ge/le/gt/lt, in, startswith, endswith (advanced), any() lambdas on
// collections, and/or, parentheses. Anything else is Request_UnsupportedQuery.

type filterExpr interface {
	eval(env filterEnv) bool
}

// filterEnv is the object under test and, inside an any() lambda, the range variable.
type filterEnv struct {
	data    []byte
	varName string
	varVal  any
}

type orExpr struct{ l, r filterExpr }
type andExpr struct{ l, r filterExpr }
type cmpExpr struct {
	path []string
	op   string
	lit  literal
}
type inExpr struct {
	path []string
	lits []literal
}
type funcExpr struct {
	name string
	path []string
	lit  literal
}
type anyExpr struct {
	path    []string
	varName string
	body    filterExpr
}

func (e orExpr) eval(env filterEnv) bool  { return e.l.eval(env) || e.r.eval(env) }
func (e andExpr) eval(env filterEnv) bool { return e.l.eval(env) && e.r.eval(env) }

type literal struct {
	kind string // "string", "bool", "null", "number", "time"
	s    string
	b    bool
	n    float64
	t    time.Time
}

// lookup resolves a path in the environment: "x" (the lambda variable), "x/id",
// "displayName", "initiatedBy/app/appId".
func (env filterEnv) lookup(path []string) (any, bool) {
	var cur any
	rest := path
	if env.varName != "" && path[0] == env.varName {
		cur = env.varVal
		rest = path[1:]
	} else {
		raw := getMember(env.data, path[0])
		if raw == nil {
			return nil, false
		}
		if len(path) == 1 && len(raw) > 0 && raw[0] == '"' {
			s, err := strconv.Unquote(string(raw))
			if err != nil {
				_ = json.Unmarshal(raw, &s)
			}
			return s, true
		}
		if err := json.Unmarshal(raw, &cur); err != nil {
			return nil, false
		}
		rest = path[1:]
	}
	for _, seg := range rest {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[seg]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

func (e cmpExpr) eval(env filterEnv) bool {
	v, ok := env.lookup(e.path)
	if !ok {
		v = nil
	}
	c, comparable := compare(v, e.lit)
	switch e.op {
	case "eq":
		return comparable && c == 0
	case "ne":
		return !comparable || c != 0
	}
	if !comparable || v == nil {
		return false
	}
	switch e.op {
	case "ge":
		return c >= 0
	case "le":
		return c <= 0
	case "gt":
		return c > 0
	case "lt":
		return c < 0
	}
	return false
}

// compare orders a JSON value against a literal; ok is false when they cannot be compared.
func compare(v any, lit literal) (int, bool) {
	switch lit.kind {
	case "null":
		if v == nil {
			return 0, true
		}
		return 1, true
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return 0, false
		}
		if b == lit.b {
			return 0, true
		}
		return 1, true
	case "number":
		f, ok := v.(float64)
		if !ok {
			return 0, false
		}
		switch {
		case f < lit.n:
			return -1, true
		case f > lit.n:
			return 1, true
		}
		return 0, true
	case "time":
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, false
		}
		return t.Compare(lit.t), true
	default:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		if t, err := time.Parse(time.RFC3339Nano, lit.s); err == nil {
			if vt, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return vt.Compare(t), true
			}
		}
		return strings.Compare(strings.ToLower(s), strings.ToLower(lit.s)), true
	}
}

func (e inExpr) eval(env filterEnv) bool {
	v, _ := env.lookup(e.path)
	for _, lit := range e.lits {
		if c, ok := compare(v, lit); ok && c == 0 {
			return true
		}
	}
	return false
}

func (e funcExpr) eval(env filterEnv) bool {
	v, _ := env.lookup(e.path)
	s, ok := v.(string)
	if !ok {
		return false
	}
	switch e.name {
	case "startswith":
		return strings.HasPrefix(strings.ToLower(s), strings.ToLower(e.lit.s))
	case "endswith":
		return strings.HasSuffix(strings.ToLower(s), strings.ToLower(e.lit.s))
	}
	return false
}

func (e anyExpr) eval(env filterEnv) bool {
	v, _ := env.lookup(e.path)
	arr, _ := v.([]any)
	for _, el := range arr {
		inner := filterEnv{data: env.data, varName: e.varName, varVal: el}
		if e.body.eval(inner) {
			return true
		}
	}
	return false
}

// filterSchema says which top-level names a $filter may use on a collection.
type filterSchema struct {
	resource string
	known    func(name string) bool
	advanced bool
}

type filterParser struct {
	toks   []string
	pos    int
	schema filterSchema
	vars   []string
}

// parseFilter compiles a $filter expression.
func parseFilter(src string, schema filterSchema) (filterExpr, *apiError) {
	toks, err := tokenizeFilter(src)
	if err != nil {
		return nil, badRequest("Invalid filter clause: %s", err.Error())
	}
	p := &filterParser{toks: toks, schema: schema}
	e, aerr := p.parseOr()
	if aerr != nil {
		return nil, aerr
	}
	if p.pos != len(p.toks) {
		return nil, badRequest("Invalid filter clause: syntax error at '%s'.", p.toks[p.pos])
	}
	return e, nil
}

func tokenizeFilter(src string) ([]string, error) {
	var toks []string
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == ',' || c == ':':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			j := i + 1
			var sb strings.Builder
			closed := false
			for j < len(src) {
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						sb.WriteByte('\'')
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				sb.WriteByte(src[j])
				j++
			}
			if !closed {
				return nil, errString("unterminated string literal")
			}
			toks = append(toks, "'"+sb.String())
			i = j
		default:
			// Datetime literals (2026-03-01T00:00:00Z) keep their colons; elsewhere a colon
			// separates an any() range variable from its body.
			stop := " \t(),:'"
			if src[i] >= '0' && src[i] <= '9' {
				stop = " \t(),'"
			}
			j := i
			for j < len(src) && !strings.ContainsRune(stop, rune(src[j])) {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		}
	}
	return toks, nil
}

type errString string

func (e errString) Error() string { return string(e) }

func (p *filterParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *filterParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *filterParser) expect(tok string) *apiError {
	if got := p.next(); got != tok {
		return badRequest("Invalid filter clause: expected '%s' but found '%s'.", tok, got)
	}
	return nil
}

func (p *filterParser) parseOr() (filterExpr, *apiError) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = orExpr{l, r}
	}
	return l, nil
}

func (p *filterParser) parseAnd() (filterExpr, *apiError) {
	l, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.next()
		r, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		l = andExpr{l, r}
	}
	return l, nil
}

func (p *filterParser) parsePrimary() (filterExpr, *apiError) {
	tok := p.next()
	switch {
	case tok == "":
		return nil, badRequest("Invalid filter clause: the expression ends too early.")
	case tok == "(":
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		return e, p.expect(")")
	case strings.EqualFold(tok, "not"):
		return nil, unsupportedQuery("Unsupported query: 'not' needs an advanced query (ConsistencyLevel: eventual and $count=true) that the simulated tenant does not offer.")
	case strings.EqualFold(tok, "startswith") || strings.EqualFold(tok, "endswith"):
		name := strings.ToLower(tok)
		if name == "endswith" && !p.schema.advanced {
			return nil, unsupportedQuery("Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header.")
		}
		if err := p.expect("("); err != nil {
			return nil, err
		}
		path, err := p.parsePath(p.next())
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		lit, err := p.parseLiteral(p.next())
		if err != nil {
			return nil, err
		}
		if lit.kind != "string" {
			return nil, unsupportedQuery("Unsupported query: %s takes a string literal.", name)
		}
		return funcExpr{name: name, path: path, lit: lit}, p.expect(")")
	}
	// A path: a comparison, an "in", or a collection lambda.
	if base, lambda, ok := strings.Cut(tok, "/any"); ok && lambda == "" {
		path, err := p.parsePath(base)
		if err != nil {
			return nil, err
		}
		if err := p.expect("("); err != nil {
			return nil, err
		}
		v := p.next()
		if !isIdent(v) {
			return nil, badRequest("Invalid filter clause: expected a range variable in any().")
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		p.vars = append(p.vars, v)
		body, err := p.parseOr()
		p.vars = p.vars[:len(p.vars)-1]
		if err != nil {
			return nil, err
		}
		return anyExpr{path: path, varName: v, body: body}, p.expect(")")
	}
	path, err := p.parsePath(tok)
	if err != nil {
		return nil, err
	}
	op := strings.ToLower(p.next())
	switch op {
	case "eq", "ge", "le", "gt", "lt":
	case "ne":
		if !p.schema.advanced {
			return nil, unsupportedQuery("Operator 'ne' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header.")
		}
	case "in":
		if err := p.expect("("); err != nil {
			return nil, err
		}
		var lits []literal
		for {
			lit, err := p.parseLiteral(p.next())
			if err != nil {
				return nil, err
			}
			lits = append(lits, lit)
			if p.peek() == "," {
				p.next()
				continue
			}
			break
		}
		return inExpr{path: path, lits: lits}, p.expect(")")
	default:
		return nil, unsupportedQuery("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", strings.Join(path, "/"), p.schema.resource)
	}
	lit, err := p.parseLiteral(p.next())
	if err != nil {
		return nil, err
	}
	return cmpExpr{path: path, op: op, lit: lit}, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
			return false
		}
	}
	return true
}

// parsePath checks a property path against the schema ("displayName", "x/id").
func (p *filterParser) parsePath(tok string) ([]string, *apiError) {
	if tok == "" || strings.HasPrefix(tok, "'") {
		return nil, badRequest("Invalid filter clause: expected a property name.")
	}
	segs := strings.Split(tok, "/")
	for _, s := range segs {
		if s == "" {
			return nil, badRequest("Invalid filter clause: '%s' is not a property path.", tok)
		}
	}
	for _, v := range p.vars {
		if segs[0] == v {
			return segs, nil
		}
	}
	if !p.schema.known(segs[0]) {
		return nil, badRequest("Could not find a property named '%s' on type '%s'.", segs[0], p.schema.resource)
	}
	return segs, nil
}

func (p *filterParser) parseLiteral(tok string) (literal, *apiError) {
	switch {
	case strings.HasPrefix(tok, "'"):
		return literal{kind: "string", s: tok[1:]}, nil
	case tok == "true" || tok == "false":
		return literal{kind: "bool", b: tok == "true"}, nil
	case tok == "null":
		return literal{kind: "null"}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, tok); err == nil {
		return literal{kind: "time", t: t}, nil
	}
	if f, err := strconv.ParseFloat(tok, 64); err == nil {
		return literal{kind: "number", n: f}, nil
	}
	if len(tok) == 36 && strings.Count(tok, "-") == 4 {
		return literal{kind: "string", s: tok}, nil
	}
	return literal{}, badRequest("Invalid filter clause: '%s' is not a valid literal.", tok)
}

// eqValue returns v when e is exactly "prop eq 'v'", so a lookup by an indexed key can
// skip the scan.
func eqValue(e filterExpr, prop string) (string, bool) {
	c, ok := e.(cmpExpr)
	if !ok || c.op != "eq" || len(c.path) != 1 || c.path[0] != prop || c.lit.kind != "string" {
		return "", false
	}
	return c.lit.s, true
}
