// Command ssa-reference runs server-side apply sequences through Kubernetes' own implementation,
// sigs.k8s.io/structured-merge-diff (the library kube-apiserver's field manager calls), so that
// KubeSim's apply can be held to it (Tests/KubeSimTests/StructuredMergeDiffTests.swift, issue 11).
//
// Input on stdin, one JSON object per line: a case.
//
//	{"steps": [{"manager": "a", "force": false, "config": {"metadata": {...}, "spec": {...}}}, ...]}
//
// Output on stdout, one JSON object per case, the state after each step:
//
//	{"steps": [{"object": {...}, "managed": {"a": <fieldsV1>, ...}}          // accepted
//	           {"conflicts": [{"manager": "a", "field": ".spec.x"}, ...]}]}  // refused (409); state unchanged
//
// The type is the `widget` of schema.yaml: the custom resource the test registers in KubeSim with the
// same structure (list-maps keyed by name and by containerPort+protocol, a set, an atomic list, maps).
// Objects carry no apiVersion, kind or metadata.name: kube-apiserver strips those from managed fields
// (fieldmanager's stripMeta), so leaving them out compares what it keeps.
//
// Builds offline in GOPATH mode against Debian's golang-k8s-sigs-structured-merge-diff-dev:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o ssa-reference ./tools/ssa-reference
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v4/merge"
	"sigs.k8s.io/structured-merge-diff/v4/typed"
	"sigs.k8s.io/structured-merge-diff/v4/value"
)

//go:embed schema.yaml
var schemaYAML string

type step struct {
	Manager string                 `json:"manager"`
	Force   bool                   `json:"force"`
	Config  map[string]interface{} `json:"config"`
}

type conflict struct {
	Manager string `json:"manager"`
	Field   string `json:"field"`
}

type result struct {
	Object    interface{}                `json:"object,omitempty"`
	Managed   map[string]json.RawMessage `json:"managed,omitempty"`
	Conflicts []conflict                 `json:"conflicts,omitempty"`
	Error     string                     `json:"error,omitempty"`
}

// sameVersion is the one API version every step uses: no conversion, as the fixture's dummyConverter.
type sameVersion struct{}

func (sameVersion) Convert(v *typed.TypedValue, _ fieldpath.APIVersion) (*typed.TypedValue, error) {
	return v, nil
}
func (sameVersion) IsMissingVersionError(error) bool { return false }

const version = fieldpath.APIVersion("v1")

func main() {
	parser, err := typed.NewParser(typed.YAMLObject(schemaYAML))
	if err != nil {
		fail(err)
	}
	widget := parser.Type("widget")
	updater := &merge.Updater{Converter: sameVersion{}}

	// Every case is read before any is answered: a caller that writes all its input before reading would
	// otherwise deadlock on full pipes.
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	var lines [][]byte
	for in.Scan() {
		lines = append(lines, append([]byte(nil), in.Bytes()...))
	}
	if err := in.Err(); err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for _, line := range lines {
		var c struct{ Steps []step }
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		if err := d.Decode(&c); err != nil {
			fail(err)
		}
		live, err := widget.FromUnstructured(map[string]interface{}{})
		if err != nil {
			fail(err)
		}
		managers := fieldpath.ManagedFields{}
		var results []result
		for _, s := range c.Steps {
			r, nextLive, nextManagers := apply(widget, updater, live, managers, s)
			if nextLive != nil {
				live, managers = nextLive, nextManagers
			}
			results = append(results, r)
		}
		b, err := json.Marshal(map[string]interface{}{"steps": results})
		if err != nil {
			fail(err)
		}
		out.Write(b)
		out.WriteString("\n")
	}
}

// apply is one server-side apply: Updater.Apply as kube-apiserver's structuredMergeManager calls it.
func apply(widget typed.ParseableType, updater *merge.Updater, live *typed.TypedValue, managers fieldpath.ManagedFields, s step) (result, *typed.TypedValue, fieldpath.ManagedFields) {
	config, err := widget.FromUnstructured(integers(s.Config))
	if err != nil {
		return result{Error: err.Error()}, nil, nil
	}
	copied := fieldpath.ManagedFields{}
	for k, v := range managers {
		copied[k] = v
	}
	next, nextManagers, err := updater.Apply(live, config, version, copied, s.Manager, s.Force)
	if err != nil {
		if cs, ok := err.(merge.Conflicts); ok {
			var list []conflict
			for _, c := range cs {
				list = append(list, conflict{Manager: c.Manager, Field: c.Path.String()})
			}
			sort.Slice(list, func(i, j int) bool {
				return list[i].Manager+list[i].Field < list[j].Manager+list[j].Field
			})
			return result{Conflicts: list}, nil, nil
		}
		return result{Error: err.Error()}, nil, nil
	}
	if next == nil { // the apply changed nothing in the object
		next = live
	}
	r := result{Managed: map[string]json.RawMessage{}}
	for m, set := range nextManagers {
		b, err := set.Set().ToJSON()
		if err != nil {
			fail(err)
		}
		r.Managed[m] = b
	}
	b, err := value.ToJSON(next.AsValue())
	if err != nil {
		fail(err)
	}
	if err := json.Unmarshal(b, &r.Object); err != nil {
		fail(err)
	}
	return r, next, nextManagers
}

// integers gives JSON numbers Go types as the API server's decoder does: int64 when integral, else float64.
func integers(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = integers(e)
		}
	case []interface{}:
		for i, e := range x {
			x[i] = integers(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ssa-reference:", err)
	os.Exit(2)
}
