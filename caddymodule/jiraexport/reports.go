package jiraexport

import "strconv"

// JiraTokenHeader is the request header carrying the person's Jira API
// token, which tokengate_auth injects from the vault
// (inject_vault jira X-Jira-Api-Token). The demo needs any non-empty value to
// serve the sets a real backend reads with the person's own Jira
// credentials (needsJiraToken).
const JiraTokenHeader = "X-Jira-Api-Token"

// needsJiraToken are the entity sets served only with a Jira API token:
// Jira's Sprint Report and Velocity Chart are not in the bulk export.
var needsJiraToken = map[string]bool{"SprintReports": true, "Velocity": true}

// jiraTokenMessage is the message of the 403 answered without a token.
func jiraTokenMessage(set string) string {
	return set + " is exported with your own Jira API token, and this request carries none: " +
		"obtain a Jira API token to export specific tables like Sprint Reports and Velocity Charts, " +
		"add it on the token page under \"Other tokens\" (Jira API token), then refresh"
}

// startedSprints is the number of sprints per project that have started
// (closed or active): the ones with a report.
const startedSprints = int(lastSprint) + 1

// sprintReportRow is one row of SprintReports or Velocity: a sprint and its
// figures.
type sprintReportRow struct {
	id              int32
	name, project   string
	state           string
	end             int64
	committedIssues int32
	completedIssues int32
	committed       float64
	completed       float64
	average         float64
}

// loadReport fills r with sprint k (index within project p) and its totals;
// average is the mean completed points of this and up to two earlier
// sprints.
func (s *Service) loadReport(p, k int, r *sprintReportRow) {
	r.id = sprintID(p, int32(k))
	r.project = projectDefs[p].key
	r.name = r.project + " Sprint " + strconv.Itoa(k+1)
	r.end = dataEpoch + int64(k+1)*sprintLen
	r.state = sprintStates[0]
	if k == int(lastSprint) {
		r.state = sprintStates[1]
	}
	t := s.sprintTotals[int(r.id)-1]
	r.committedIssues, r.completedIssues = t.committedIssues, t.completedIssues
	r.committed, r.completed = t.committedPoints, t.completedPoints
	sum, n := 0.0, 0
	for j := max(k-2, 0); j <= k; j++ {
		sum += s.sprintTotals[int(sprintID(p, int32(j)))-1].completedPoints
		n++
	}
	r.average = sum / float64(n)
}

// reportFind maps a SprintId key to a row index of a set with perProject
// rows per project.
func reportFind(k value, perProject int) (int, bool) {
	id := int(k.n)
	if float64(id) != k.n || id < 1 || id > numProjects*sprintsPerProject {
		return 0, false
	}
	p, j := (id-1)/sprintsPerProject, (id-1)%sprintsPerProject
	return p*perProject + j, j < perProject
}

func sprintNav[R any](id func(r *R) int32) []navigation[R] {
	return []navigation[R]{{name: "Sprint", target: "Sprints", refs: ref("SprintId", "Id"),
		link: func(r *R, out []int) []int { return append(out, int(id(r))-1) }}}
}

func (s *Service) sprintReportsTable() *table[sprintReportRow] {
	return &table[sprintReportRow]{
		name: "SprintReports", typeName: "SprintReport", key: 0,
		cols: []column[sprintReportRow]{
			{"SprintId", edmInt32, false, func(r *sprintReportRow) value { return num(float64(r.id)) }},
			{"SprintName", edmString, false, func(r *sprintReportRow) value { return str(r.name) }},
			{"ProjectKey", edmString, false, func(r *sprintReportRow) value { return str(r.project) }},
			{"State", edmString, false, func(r *sprintReportRow) value { return str(r.state) }},
			{"CommittedIssues", edmInt32, false, func(r *sprintReportRow) value { return num(float64(r.committedIssues)) }},
			{"CompletedIssues", edmInt32, false, func(r *sprintReportRow) value { return num(float64(r.completedIssues)) }},
			{"NotCompletedIssues", edmInt32, false, func(r *sprintReportRow) value { return num(float64(r.committedIssues - r.completedIssues)) }},
			{"CommittedPoints", edmDouble, false, func(r *sprintReportRow) value { return num(r.committed) }},
			{"CompletedPoints", edmDouble, false, func(r *sprintReportRow) value { return num(r.completed) }},
		},
		size:    func() int { return numProjects * startedSprints },
		visible: func(v *viewer, i int) bool { return v.member(i / startedSprints) },
		load:    func(i int, r *sprintReportRow) { s.loadReport(i/startedSprints, i%startedSprints, r) },
		find:    func(k value) (int, bool) { return reportFind(k, startedSprints) },
		navs:    sprintNav(func(r *sprintReportRow) int32 { return r.id }),
	}
}

// closedSprints is the number of closed sprints per project: the Velocity
// chart's.
const closedSprints = int(lastSprint)

func (s *Service) velocityTable() *table[sprintReportRow] {
	return &table[sprintReportRow]{
		name: "Velocity", typeName: "SprintVelocity", key: 0,
		cols: []column[sprintReportRow]{
			{"SprintId", edmInt32, false, func(r *sprintReportRow) value { return num(float64(r.id)) }},
			{"SprintName", edmString, false, func(r *sprintReportRow) value { return str(r.name) }},
			{"ProjectKey", edmString, false, func(r *sprintReportRow) value { return str(r.project) }},
			{"EndDate", edmDateTimeOffset, false, func(r *sprintReportRow) value { return tim(r.end) }},
			{"Commitment", edmDouble, false, func(r *sprintReportRow) value { return num(r.committed) }},
			{"Completed", edmDouble, false, func(r *sprintReportRow) value { return num(r.completed) }},
			{"AverageVelocity", edmDouble, false, func(r *sprintReportRow) value { return num(r.average) }},
		},
		size:    func() int { return numProjects * closedSprints },
		visible: func(v *viewer, i int) bool { return v.member(i / closedSprints) },
		load:    func(i int, r *sprintReportRow) { s.loadReport(i/closedSprints, i%closedSprints, r) },
		find:    func(k value) (int, bool) { return reportFind(k, closedSprints) },
		navs:    sprintNav(func(r *sprintReportRow) int32 { return r.id }),
	}
}
