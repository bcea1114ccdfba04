package jiraexport

import "strings"

// schemaNamespace is the namespace of the CSDL schema.
const schemaNamespace = "JiraExport"

// buildMetadata renders the CSDL XML document served at $metadata.
func (s *Service) buildMetadata() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>`)
	b.WriteString(`<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">`)
	writeCapabilitiesReference(&b)
	b.WriteString(`<edmx:DataServices><Schema Namespace="` + schemaNamespace + `" xmlns="http://docs.oasis-open.org/odata/ns/edm">`)
	for _, set := range s.sets {
		set.writeCSDL(&b)
	}
	b.WriteString(`<EntityContainer Name="Container">`)
	for _, set := range s.sets {
		set.writeEntitySetCSDL(&b)
	}
	b.WriteString(`</EntityContainer>`)
	writeFilterCapabilities(&b, s.sets)
	b.WriteString(`</Schema></edmx:DataServices></edmx:Edmx>`)
	return b.String()
}
