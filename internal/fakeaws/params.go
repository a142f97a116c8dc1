package fakeaws

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// List returns the values of a flattened list parameter of a Query call:
// name.1, name.2, …
func List(form url.Values, name string) []string {
	var out []string
	for i := 1; form.Has(fmt.Sprintf("%s.%d", name, i)); i++ {
		out = append(out, form.Get(fmt.Sprintf("%s.%d", name, i)))
	}
	return out
}

// Filters returns the filters of an EC2 describe call by name: Filter.N.Name
// → its values Filter.N.Value.1, ….
func Filters(form url.Values) map[string][]string {
	out := map[string][]string{}
	for i := 1; form.Has(fmt.Sprintf("Filter.%d.Name", i)); i++ {
		out[form.Get(fmt.Sprintf("Filter.%d.Name", i))] = List(form, fmt.Sprintf("Filter.%d.Value", i))
	}
	return out
}

// Tags returns the tags of a tag specification of an EC2 call, spec.Tag.N.Key
// → spec.Tag.N.Value, where spec is, say, "TagSpecification.1" (or
// "TagSpecifications.1", as some actions spell it).
func Tags(form url.Values, spec string) map[string]string {
	tags := map[string]string{}
	for i := 1; form.Has(fmt.Sprintf("%s.Tag.%d.Key", spec, i)); i++ {
		tags[form.Get(fmt.Sprintf("%s.Tag.%d.Key", spec, i))] = form.Get(fmt.Sprintf("%s.Tag.%d.Value", spec, i))
	}
	return tags
}

// TagSet is the tagSet element of an EC2 answer, its items sorted by key.
func TagSet(tags map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		fmt.Fprintf(&b, "<item><key>%s</key><value>%s</value></item>", k, tags[k])
	}
	return "<tagSet>" + b.String() + "</tagSet>"
}

// Items are the items of a list in an EC2 answer: <item>value</item> each,
// or <item><elem>value</elem></item> when elem is not empty.
func Items(values []string, elem string) string {
	var b strings.Builder
	for _, v := range values {
		if elem == "" {
			fmt.Fprintf(&b, "<item>%s</item>", v)
		} else {
			fmt.Fprintf(&b, "<item><%s>%s</%s></item>", elem, v, elem)
		}
	}
	return b.String()
}
