package jiraexport

// issueRow is one row of Issues; idx and life let the navigation
// properties find what the issue links to without recomputing it.
type issueRow struct {
	idx                                                    int
	key, summary, status, typ, priority, project, reporter string
	assignee, parent                                       string // "" = null
	created, updated, resolved                             int64
	hasResolved, hasPoints                                 bool
	points                                                 float64
	sprint                                                 int32 // 0 = none
	life                                                   issueLife
	labels                                                 []string
}

// issueCreated is the creation time of issue i: spread evenly over the span.
func (s *Service) issueCreated(i int) int64 {
	n := int64(len(s.issueProj))
	step := max(int64(dataSpan)/n, 1)
	return dataEpoch + int64(i)*dataSpan/n + int64(s.h(domIssue, uint64(i), 2)%uint64(step))
}

// sprintID is the Id of sprint k (index within the project) of project p.
func sprintID(p int, k int32) int32 { return int32(p*sprintsPerProject) + k + 1 }

func (s *Service) loadIssue(i int, r *issueRow) {
	h := func(f uint64) uint64 { return s.h(domIssue, uint64(i), f) }
	p := int(s.issueProj[i])
	l := s.life(i)
	r.idx, r.life = i, l
	r.key = s.issueKey(i)
	r.summary = summaryVerbs[h(3)%uint64(len(summaryVerbs))] + " " +
		summaryObjects[h(4)%uint64(len(summaryObjects))] + summaryQuals[h(5)%uint64(len(summaryQuals))]
	r.status = statuses[l.status]
	r.typ = issueTypes[l.typ]
	r.priority = priorities[pick(h(8), 5, 25, 75, 90)]
	r.project = projectDefs[p].key
	r.assignee = s.member(p, h(9))
	if l.status == stToDo && (h(9)>>32)%3 == 0 {
		r.assignee = "" // a third of the open backlog is unassigned
	}
	r.reporter = s.member(p, h(10))
	r.created, r.updated = l.created, l.updated
	r.hasResolved, r.resolved = l.status == stDone, l.resolved
	r.hasPoints, r.points = l.hasPoints, l.points
	r.sprint = 0
	if l.last >= 0 {
		r.sprint = sprintID(p, l.last)
	}
	r.parent = ""
	if e, ok := s.parentOf(i, l.typ); ok {
		r.parent = s.issueKey(e)
	}
	var mask int
	for c, lr := h(15)%4, h(16); c > 0; c-- {
		mask |= 1 << (lr % uint64(len(labelNames)))
		lr = mix(lr)
	}
	r.labels = labelSets[mask]
}

// optStr is a string value, null when empty.
func optStr(s string) value {
	if s == "" {
		return value{null: true}
	}
	return str(s)
}

func (s *Service) issuesTable() *table[issueRow] {
	return &table[issueRow]{
		name: "Issues", typeName: "Issue", key: 0,
		cols: []column[issueRow]{
			{"Key", edmString, false, func(r *issueRow) value { return str(r.key) }},
			{"Summary", edmString, false, func(r *issueRow) value { return str(r.summary) }},
			{"Status", edmString, false, func(r *issueRow) value { return str(r.status) }},
			{"Type", edmString, false, func(r *issueRow) value { return str(r.typ) }},
			{"Priority", edmString, false, func(r *issueRow) value { return str(r.priority) }},
			{"ProjectKey", edmString, false, func(r *issueRow) value { return str(r.project) }},
			{"Assignee", edmString, true, func(r *issueRow) value { return optStr(r.assignee) }},
			{"Reporter", edmString, false, func(r *issueRow) value { return str(r.reporter) }},
			{"Created", edmDateTimeOffset, false, func(r *issueRow) value { return tim(r.created) }},
			{"Updated", edmDateTimeOffset, false, func(r *issueRow) value { return tim(r.updated) }},
			{"Resolved", edmDateTimeOffset, true, func(r *issueRow) value { return optTime(r.hasResolved, r.resolved) }},
			{"StoryPoints", edmDouble, true, func(r *issueRow) value { return optNum(r.hasPoints, r.points) }},
			{"SprintId", edmInt32, true, func(r *issueRow) value { return optNum(r.sprint != 0, float64(r.sprint)) }},
			{"ParentKey", edmString, true, func(r *issueRow) value { return optStr(r.parent) }},
			{"Labels", edmStringCollection, false, func(r *issueRow) value { return strs(r.labels) }},
		},
		size:    func() int { return len(s.issueProj) },
		visible: func(v *viewer, i int) bool { return v.member(int(s.issueProj[i])) },
		load:    s.loadIssue,
		find:    func(k value) (int, bool) { return s.findIssue(k.s) },
		navs: []navigation[issueRow]{
			{name: "Project", target: "Projects", refs: ref("ProjectKey", "Key"),
				link: func(r *issueRow, out []int) []int { return append(out, int(s.issueProj[r.idx])) }},
			{name: "Parent", target: "Issues", nullable: true, refs: ref("ParentKey", "Key"),
				link: func(r *issueRow, out []int) []int {
					if e, ok := s.parentOf(r.idx, r.life.typ); ok {
						out = append(out, e)
					}
					return out
				}},
			{name: "Sprints", target: "Sprints", many: true, partner: "Issues",
				link: func(r *issueRow, out []int) []int {
					if r.life.firstSprint < 0 {
						return out
					}
					base := int(s.issueProj[r.idx]) * sprintsPerProject
					for k := r.life.firstSprint; k <= r.life.last; k++ {
						out = append(out, base+int(k))
					}
					return out
				}},
			{name: "SprintLinks", target: "IssueSprints", many: true, partner: "Issue",
				link: func(r *issueRow, out []int) []int { return s.rangeOf(fLinks, r.idx, out) }},
			{name: "Worklogs", target: "Worklogs", many: true, partner: "Issue",
				link: func(r *issueRow, out []int) []int { return s.rangeOf(fWorklogs, r.idx, out) }},
			{name: "StatusChanges", target: "IssueStatusChanges", many: true, partner: "Issue",
				link: func(r *issueRow, out []int) []int { return s.rangeOf(fChanges, r.idx, out) }},
			{name: "AssigneeUser", target: "Users", nullable: true, refs: ref("Assignee", "Id"),
				link: func(r *issueRow, out []int) []int { return s.userLink(r.assignee, out) }},
			{name: "ReporterUser", target: "Users", refs: ref("Reporter", "Id"),
				link: func(r *issueRow, out []int) []int { return s.userLink(r.reporter, out) }},
		},
	}
}

// userLink appends the index of user id, if there is one.
func (s *Service) userLink(id string, out []int) []int {
	if i, ok := s.userIdx[id]; ok {
		out = append(out, i)
	}
	return out
}
