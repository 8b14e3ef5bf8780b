package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
//
// The last member is the seal: the SHA-256 of every byte before it, so the file is what
// an encoder writes for the sealed plan, and ReadPlan can tell whether it was edited.
func WritePlanJSON(w io.Writer, plan *Plan) error {
	sealed := sha256.New()
	w, out := io.MultiWriter(w, sealed), w
	skeleton := *plan
	skeleton.Seal = ""
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
	body, ok := bytes.CutSuffix(rest, []byte("\n}\n"))
	if !ok {
		return fmt.Errorf("writing the plan: its JSON does not end as a plan's does")
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "%s%x\"\n}\n", sealPrefix, sealed.Sum(nil))
	return err
}

// sealPrefix is what comes between the plan's last member and its seal's hex digits.
const sealPrefix = ",\n  \"seal\": \""

// checkSeal reports whether data, a plan file, ends with the seal WritePlanJSON wrote
// over the bytes before it: nil when it does, a sentence saying what is wrong when not.
func checkSeal(data []byte) error {
	data = bytes.TrimRight(data, "\n")
	at := bytes.LastIndex(data, []byte(sealPrefix))
	tail := data[max(at, 0):]
	if bytes.Contains(data, []byte("\r\n")) {
		return fmt.Errorf("the plan file's line ends were changed to CRLF (by git's autocrlf or an editor) after it was written, so its seal cannot be checked and nothing was applied; copy the file as it was written, or build it again with 'lifeline plan'")
	}
	if at < 0 || len(tail) != len(sealPrefix)+64+len("\"\n}") || !bytes.HasSuffix(tail, []byte("\"\n}")) {
		return fmt.Errorf("the plan file has no seal where 'lifeline plan' puts one (it was re-formatted, or not written by lifeline), so nothing was applied; write it again with 'lifeline plan'")
	}
	want := make([]byte, 64)
	sum := sha256.Sum256(data[:at])
	hex.Encode(want, sum[:])
	if !bytes.Equal(tail[len(sealPrefix):len(sealPrefix)+64], want) {
		return fmt.Errorf("the plan file was changed after it was written (its content no longer matches its seal), so nothing was applied; build a new plan with 'lifeline plan' (the console's Plan screen can take steps out)")
	}
	return nil
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
