// Command validate checks Kubernetes manifests offline against the API's own Go types, the way
// the API server decodes them: every object must be a known kind, and strict decoding refuses
// unknown fields, duplicate fields and values of the wrong type (a misspelt probe key, a port
// written as a list). ServiceMonitor and PrometheusRule are checked against the Prometheus
// Operator's types. On top of that it checks what the server would refuse at once: object
// names, label keys and values, and Deployment selectors that do not match their pod labels.
//
// Usage: go run . FILE...   (multi-document YAML; "-" reads stdin). Exit 1 on the first
// file with a problem, after printing every problem found in it.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: validate FILE...")
		os.Exit(2)
	}
	s := runtime.NewScheme()
	must(scheme.AddToScheme(s))
	must(monitoringv1.AddToScheme(s))
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true})

	failed := false
	for _, path := range os.Args[1:] {
		n, problems := validateFile(path, strict)
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "%s: %s\n", path, p)
		}
		if len(problems) > 0 {
			failed = true
		} else {
			fmt.Printf("%s: %d object(s) valid\n", path, n)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func validateFile(path string, strict runtime.Decoder) (int, []string) {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return 0, []string{err.Error()}
		}
		defer f.Close()
		in = f
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(in))
	var problems []string
	n := 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, append(problems, err.Error())
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		n++
		obj, gvk, err := strict.Decode(doc, nil, nil)
		if err != nil {
			problems = append(problems, fmt.Sprintf("object %d: %v", n, err))
			continue
		}
		where := fmt.Sprintf("%s %s", gvk.Kind, nameOf(obj))
		for _, p := range checkObject(obj) {
			problems = append(problems, fmt.Sprintf("%s: %s", where, p))
		}
	}
	if n == 0 {
		problems = append(problems, "no Kubernetes object found")
	}
	return n, problems
}

func checkObject(obj runtime.Object) []string {
	var problems []string
	m, ok := obj.(metav1.Object)
	if !ok {
		return []string{"not a Kubernetes object with metadata"}
	}
	if m.GetName() == "" {
		problems = append(problems, "metadata.name is empty")
	}
	for _, e := range validation.IsDNS1123Subdomain(m.GetName()) {
		problems = append(problems, "metadata.name: "+e)
	}
	problems = append(problems, checkLabels("metadata.labels", m.GetLabels())...)
	if d, ok := obj.(*appsv1.Deployment); ok {
		problems = append(problems, checkLabels("spec.template.metadata.labels", d.Spec.Template.Labels)...)
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || d.Spec.Selector == nil {
			problems = append(problems, fmt.Sprintf("spec.selector: invalid (%v)", err))
		} else if sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			problems = append(problems, "spec.selector does not match spec.template.metadata.labels")
		}
		if len(d.Spec.Template.Spec.Containers) == 0 {
			problems = append(problems, "spec.template.spec.containers is empty")
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Image == "" {
				problems = append(problems, fmt.Sprintf("container %q has no image", c.Name))
			}
		}
	}
	return problems
}

func checkLabels(where string, l map[string]string) []string {
	var problems []string
	for k, v := range l {
		for _, e := range validation.IsQualifiedName(k) {
			problems = append(problems, fmt.Sprintf("%s key %q: %s", where, k, e))
		}
		for _, e := range validation.IsValidLabelValue(v) {
			problems = append(problems, fmt.Sprintf("%s[%q] value %q: %s", where, k, v, e))
		}
	}
	return problems
}

func nameOf(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok {
		return m.GetName()
	}
	return "?"
}

// stripComments drops whole-line comments so a document holding only a header is skipped.
func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] == '#' {
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
