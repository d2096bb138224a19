package report

import (
	"strconv"
	"strings"

	"github.com/wireplay/wireplay/protocol"
)

// writeTable renders one of a run's tables, at most maxRows rows of it (0: all). A column whose
// cells are all numbers (or empty) is aligned right, its heading too; a first cell that names
// something the charts draw takes its colour; each cell carries its column's heading as
// data-label, for a page too narrow for the table to stack its rows.
func writeTable(b *strings.Builder, t protocol.Table, color func(string) string, maxRows int) {
	rows := t.Rows
	if maxRows > 0 && len(rows) > maxRows {
		rows = rows[:maxRows]
	}
	numeric := numericColumns(len(t.Columns), rows)
	b.WriteString(`<div class="lesson-table"><table><caption>` + esc(t.Title) + "</caption><thead><tr>")
	for j, c := range t.Columns {
		if numeric[j] {
			b.WriteString(`<th class="n">` + esc(c) + "</th>")
		} else {
			b.WriteString("<th>" + esc(c) + "</th>")
		}
	}
	b.WriteString("</tr></thead><tbody>")
	for _, row := range rows {
		b.WriteString("<tr>")
		for j, c := range row {
			var class []string
			if j < len(numeric) && numeric[j] {
				class = append(class, "n")
			}
			style := ""
			if j == 0 {
				if col := color(c); col != "" {
					style = ` style="--c: ` + esc(col) + `;"`
					class = append(class, "tr-name")
				}
			}
			b.WriteString("<td")
			if j < len(t.Columns) { // the cell's heading, which a narrow page shows beside it
				b.WriteString(` data-label="` + esc(t.Columns[j]) + `"`)
			}
			if len(class) > 0 {
				b.WriteString(` class="` + strings.Join(class, " ") + `"`)
			}
			b.WriteString(style)
			if len([]rune(c)) > 40 {
				b.WriteString(` title="` + esc(c) + `"`)
			}
			b.WriteString(">" + esc(c) + "</td>")
		}
		b.WriteString("</tr>")
	}
	if len(rows) < len(t.Rows) {
		b.WriteString(`<tr class="more"><td colspan="` + strconv.Itoa(max(1, len(t.Columns))) + `">` + strconv.Itoa(len(t.Rows)-len(rows)) + " more rows not shown</td></tr>")
	}
	b.WriteString("</tbody></table></div>")
}

// numericColumns reports which of n columns hold only numbers (and empty cells), at least one.
func numericColumns(n int, rows [][]string) []bool {
	numeric := make([]bool, n)
	for j := range numeric {
		some := false
		numeric[j] = true
		for _, row := range rows {
			if j < len(row) && strings.TrimSpace(row[j]) != "" {
				some = true
				numeric[j] = numeric[j] && isNumber(row[j])
			}
		}
		numeric[j] = numeric[j] && some
	}
	return numeric
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	return err == nil
}
