package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// WritePlanJSON writes plan as the plan file holds it: indented JSON (two spaces),
// HTML characters as they are, and a final newline, the bytes an encoding/json Encoder
// with SetIndent("", "  ") and SetEscapeHTML(false) writes. A plan of a large incident
// is hundreds of megabytes of JSON, which one encoder took longer to write than the
// plan took to build: here each stage's steps are encoded in chunks in parallel and put
// in place of the empty list the plan's other fields are encoded around.
func WritePlanJSON(w io.Writer, plan *Plan) error {
	skeleton := *plan
	skeleton.Stages = make([]Stage, len(plan.Stages))
	for i, st := range plan.Stages {
		skeleton.Stages[i] = Stage{Name: st.Name, Steps: []Step{}}
	}
	var head bytes.Buffer
	if err := newPlanEncoder(&head, "").Encode(&skeleton); err != nil {
		return err
	}
	// A stage's empty list of steps, as the skeleton holds it: a string cannot hold a
	// newline unescaped, so the sequence is a stage's field and nothing else.
	const empty = "\n      \"steps\": []"
	rest := head.Bytes()
	for _, st := range plan.Stages {
		at := bytes.Index(rest, []byte(empty))
		if at < 0 {
			return fmt.Errorf("writing the plan: the list of steps of stage %s is not where it should be", st.Name)
		}
		if _, err := w.Write(rest[:at+len(empty)-len("[]")]); err != nil {
			return err
		}
		if err := writeSteps(w, st.Steps); err != nil {
			return err
		}
		rest = rest[at+len(empty):]
	}
	_, err := w.Write(rest)
	return err
}

// newPlanEncoder is the plan file's encoder, its lines prefixed by prefix.
func newPlanEncoder(w io.Writer, prefix string) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	return enc
}

// writeSteps writes a stage's steps as the plan's encoder writes the list at its depth
// (each step on lines of its own, eight spaces in), encoding chunks of them in parallel.
func writeSteps(w io.Writer, steps []Step) error {
	if len(steps) == 0 {
		_, err := io.WriteString(w, "[]")
		return err
	}
	const chunk = 2048
	parts := make([]bytes.Buffer, (len(steps)+chunk-1)/chunk)
	errs := make([]error, len(parts))
	parallelFor(len(parts), 1, func(p int) {
		buf := &parts[p]
		enc := newPlanEncoder(buf, "        ")
		for i := p * chunk; i < min((p+1)*chunk, len(steps)); i++ {
			buf.WriteString("\n        ")
			if err := enc.Encode(&steps[i]); err != nil {
				errs[p] = err
				return
			}
			buf.Truncate(buf.Len() - 1) // the newline Encode ends a value with
			if i < len(steps)-1 {
				buf.WriteByte(',')
			}
		}
	})
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for p := range parts {
		if errs[p] != nil {
			return errs[p]
		}
		if _, err := parts[p].WriteTo(w); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n      ]")
	return err
}
