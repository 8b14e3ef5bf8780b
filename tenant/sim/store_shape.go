package sim

import (
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Reads of large collections select the same properties again and again (a capture asks
// for every property lifeline knows, which is every property a generated user carries),
// so appendProjected's walk over each object's members mostly rebuilds the stored bytes.
// An object's layout (objMeta: its keys and where its id is) is worked out once, and a
// projection that names exactly the object's keys copies the stored bytes whole; one that
// names only the id copies the id. Anything unusual takes the member walk.

// shape is the sequence of an object's top-level keys, interned: a generated tenant has a
// handful of shapes for a million objects.
type shape struct {
	// keys are the raw keys in document order, each followed by a NUL (which a JSON
	// string cannot hold unescaped).
	keys string
	// odataType says the object stores "@odata.type".
	odataType bool
}

// objMeta is what appendObject needs to know about an object's stored bytes.
type objMeta struct {
	// shape is nil when the bytes are not compact (the fast paths splice them).
	shape *shape
	// idStart and idEnd delimit the raw value of "id" (idEnd == 0: no id member).
	idStart, idEnd int32
}

// shapes interns shapes across sims (objects are shared between a sim and its pristine
// copy). It stops growing at maxShapes, past which objects keep their own.
var shapes struct {
	sync.Mutex
	m map[string]*shape
}

const maxShapes = 4096

func internShape(keys string, odataType bool) *shape {
	shapes.Lock()
	defer shapes.Unlock()
	if s := shapes.m[keys]; s != nil {
		return s
	}
	s := &shape{keys: strings.Clone(keys), odataType: odataType}
	if shapes.m == nil {
		shapes.m = map[string]*shape{}
	}
	if len(shapes.m) < maxShapes {
		shapes.m[s.keys] = s
	}
	return s
}

// meta returns the object's layout, working it out on first use. Objects are immutable,
// so the answer never goes stale; concurrent readers may both compute it, harmlessly.
func (o *object) meta() *objMeta {
	if m := o.layout.Load(); m != nil {
		return m
	}
	m := computeMeta(o.data)
	o.layout.Store(m)
	return m
}

// computeMeta walks data once. The shape is kept only when data is compact: members
// right after '{' or ',', ':' right after each key, '}' as the last byte.
func computeMeta(data []byte) *objMeta {
	m := &objMeta{}
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return m
	}
	var keys []byte
	odataType := false
	compact := true
	i := 1
	if data[1] == '}' {
		if len(data) != 2 {
			return m
		}
		m.shape = internShape("", false)
		return m
	}
	for i < len(data)-1 {
		if data[i] != '"' {
			compact = false
			break
		}
		kEnd := skipString(data, i)
		if kEnd >= len(data) || data[kEnd] != ':' {
			compact = false
			break
		}
		key := data[i+1 : kEnd-1]
		vEnd := skipValue(data, kEnd+1)
		if vEnd >= len(data) {
			compact = false
			break
		}
		switch string(key) {
		case "id":
			if data[kEnd+1] == '"' {
				m.idStart, m.idEnd = int32(kEnd+1), int32(vEnd)
			}
		case "@odata.type":
			odataType = true
		}
		keys = append(keys, key...)
		keys = append(keys, 0)
		switch data[vEnd] {
		case ',':
			i = vEnd + 1
		case '}':
			if vEnd != len(data)-1 {
				compact = false
			}
			i = len(data)
		default:
			compact = false
		}
		if !compact {
			break
		}
	}
	if compact && i == len(data) {
		m.shape = internShape(string(keys), odataType)
	} else {
		m.idStart, m.idEnd = 0, 0
	}
	return m
}

// prepareMetas works out the layout of many objects at once, on every core: a loaded
// tenant's first capture then takes the fast paths from its first page.
func prepareMetas(objs []*object) {
	workers := min(runtime.GOMAXPROCS(0), max(1, len(objs)/10000))
	if workers <= 1 {
		for _, o := range objs {
			o.meta()
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(objs) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		part := objs[min(w*per, len(objs)):min((w+1)*per, len(objs))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, o := range part {
				o.meta()
			}
		}()
	}
	wg.Wait()
}

// projectionShape is the shape key of a projection's names when a stored object with
// exactly that shape may be shown as stored: no name is hidden, annotated or in need
// of escaping. "" when no object may.
func projectionShape(names []string, hide map[string]bool) string {
	if len(names) == 0 {
		return ""
	}
	sorted := make([]string, len(names))
	copy(sorted, names)
	for _, n := range sorted {
		if n == "" || hide[n] || strings.ContainsAny(n, "@\"\\") {
			return ""
		}
		for _, r := range n {
			if r < 0x20 {
				return ""
			}
		}
	}
	sort.Strings(sorted)
	var b strings.Builder
	for i, n := range sorted {
		if i > 0 && n == sorted[i-1] {
			return ""
		}
		b.WriteString(n)
		b.WriteByte(0)
	}
	return b.String()
}

// appendObject is appendProjected(out, o.data, p, odataType, extra...) with two fast
// paths: an object whose keys are exactly the projection's is copied as stored, and a
// projection of the id alone copies the id. Both write the bytes the member walk would.
func appendObject(out []byte, o *object, p *projection, odataType string, extra ...[]byte) []byte {
	if p.all {
		return appendProjected(out, o.data, p, odataType, extra...)
	}
	m := o.meta()
	if m.shape == nil || m.shape.odataType {
		return appendProjected(out, o.data, p, odataType, extra...)
	}
	var body []byte
	switch {
	case p.shapeKeys != "" && m.shape.keys == p.shapeKeys:
		body = o.data[1 : len(o.data)-1]
	case p.idOnly && m.idEnd > 0:
		body = o.data[int(m.idStart)-len(`"id":`) : m.idEnd]
	default:
		return appendProjected(out, o.data, p, odataType, extra...)
	}
	out = append(out, '{')
	n := 0
	if odataType != "" {
		out = append(out, `"@odata.type":`...)
		out = strconv.AppendQuote(out, odataType)
		n++
	}
	if len(body) > 0 {
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, body...)
		n++
	}
	for _, e := range extra {
		if len(e) == 0 {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
		n++
	}
	return append(out, '}')
}
