package jiraexport

import (
	"sort"
	"strings"
)

// capabilitiesVocabulary is where the Org.OData.Capabilities.V1 vocabulary
// the $metadata annotations use is published.
const capabilitiesVocabulary = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml"

// writeCapabilitiesReference appends the edmx:Reference that includes the
// Capabilities vocabulary; it belongs before edmx:DataServices.
func writeCapabilitiesReference(b *strings.Builder) {
	b.WriteString(`<edmx:Reference Uri="` + capabilitiesVocabulary + `">`)
	b.WriteString(`<edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/>`)
	b.WriteString(`</edmx:Reference>`)
}

// filterCapabilities lists the operators and functions $filter implements,
// as Capabilities.FilterFunctions: clients must not expect anything else
// (arithmetic, has, cast, isof, other functions) to fold; it is answered
// 501 NotImplemented.
func filterCapabilities() []string {
	names := strings.Split(supportedOperators, ", ")
	fns := make([]string, 0, len(filterFunctions))
	for name := range filterFunctions {
		fns = append(fns, name)
	}
	sort.Strings(fns)
	return append(names, fns...)
}

// nonFilterable names the properties of t that $filter cannot use: those
// of types it does not handle and the navigation properties.
func (t *table[R]) nonFilterable() []string {
	var names []string
	for _, c := range t.cols {
		if _, _, ok := propType(c.typ); !ok {
			names = append(names, c.name)
		}
	}
	for _, n := range t.navs {
		names = append(names, n.name)
	}
	return names
}

// writeFilterCapabilities appends the Annotations elements (children of
// Schema) declaring what $filter supports: FilterFunctions on the entity
// container and FilterRestrictions on every entity set, whose
// NonFilterableProperties name the navigation properties (no paths
// through them: filter on the foreign keys).
func writeFilterCapabilities(b *strings.Builder, sets []entitySet) {
	container := schemaNamespace + ".Container"
	b.WriteString(`<Annotations Target="` + container + `">`)
	b.WriteString(`<Annotation Term="Org.OData.Capabilities.V1.FilterFunctions"><Collection>`)
	for _, f := range filterCapabilities() {
		b.WriteString(`<String>` + f + `</String>`)
	}
	b.WriteString(`</Collection></Annotation></Annotations>`)
	for _, set := range sets {
		b.WriteString(`<Annotations Target="` + container + "/" + set.setName() + `">`)
		b.WriteString(`<Annotation Term="Org.OData.Capabilities.V1.FilterRestrictions"><Record>`)
		b.WriteString(`<PropertyValue Property="Filterable" Bool="true"/>`)
		b.WriteString(`<PropertyValue Property="RequiresFilter" Bool="false"/>`)
		if nf, ok := set.(interface{ nonFilterable() []string }); ok {
			if names := nf.nonFilterable(); len(names) > 0 {
				b.WriteString(`<PropertyValue Property="NonFilterableProperties"><Collection>`)
				for _, n := range names {
					b.WriteString(`<PropertyPath>` + n + `</PropertyPath>`)
				}
				b.WriteString(`</Collection></PropertyValue>`)
			}
		}
		b.WriteString(`</Record></Annotation></Annotations>`)
	}
}
