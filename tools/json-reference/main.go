// Command json-reference decodes JSON texts with sigs.k8s.io/json, the decoder kube-apiserver reads request
// bodies and custom resources with (k8s.io/apimachinery's util/json and serializer/json call its
// UnmarshalCaseSensitivePreserveInts), so that Meshform's own JSON reader and writer (Sources/KubeModel/JSONFastText.swift)
// can be held to it (Tests/KubeClientTests/JSONReferenceTests.swift).
//
// With -yaml, each text is a YAML document, turned into JSON first by sigs.k8s.io/yaml's YAMLToJSON, as kubectl
// apply -f (k8s.io/apimachinery's util/yaml YAMLToJSONDecoder) and Helm do with a manifest: the value is then what
// kube-apiserver receives from them, for Meshform's YAML reading (Sources/KubeModel/YAML.swift) to be held to.
//
// Input on stdin: one text per line, base64-encoded (a text may hold any byte).
// Output on stdout, one line per text: "E" and the error when the text is refused, else the decoded value dumped
// in a form that leaves no room for spelling (the test dumps its own values the same way):
//
//	n  t  f                  null, true, false
//	i<decimal>;              an integer that fits int64 (PreserveInts)
//	d<16 hex digits>;        any other number: the float64's bits
//	s<hex of UTF-8 bytes>;   a string
//	[...]                    a list, its elements in order
//	{...}                    an object, its members ordered by their keys' bytes: the key as a string, then the value
//
// Builds offline in GOPATH mode against Debian's golang-k8s-sigs-json-dev (tools/json-reference/build).
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

func dump(b *strings.Builder, v interface{}) {
	switch t := v.(type) {
	case nil:
		b.WriteString("n")
	case bool:
		if t {
			b.WriteString("t")
		} else {
			b.WriteString("f")
		}
	case int64:
		fmt.Fprintf(b, "i%d;", t)
	case float64:
		fmt.Fprintf(b, "d%016x;", math.Float64bits(t))
	case string:
		b.WriteString("s" + hex.EncodeToString([]byte(t)) + ";")
	case []interface{}:
		b.WriteString("[")
		for _, e := range t {
			dump(b, e)
		}
		b.WriteString("]")
	case map[string]interface{}:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys) // byte order
		b.WriteString("{")
		for _, k := range keys {
			dump(b, k)
			dump(b, t[k])
		}
		b.WriteString("}")
	default:
		fmt.Fprintf(b, "?%T", v)
	}
}

func main() {
	yamlInput := flag.Bool("yaml", false, "each text is a YAML document, converted by sigs.k8s.io/yaml's YAMLToJSON first")
	flag.Parse()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		text, err := base64.StdEncoding.DecodeString(in.Text())
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad base64:", err)
			os.Exit(2)
		}
		if *yamlInput {
			if text, err = yaml.YAMLToJSON(text); err != nil {
				fmt.Fprintln(out, "E", strings.ReplaceAll(err.Error(), "\n", " "))
				continue
			}
		}
		var v interface{}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(text, &v); err != nil {
			fmt.Fprintln(out, "E", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		var b strings.Builder
		dump(&b, v)
		fmt.Fprintln(out, b.String())
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
