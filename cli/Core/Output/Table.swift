/// Plain-text tables: a header row and left-aligned columns two spaces apart; long cells are cut.
struct Table {
    let headers: [String]
    var rows: [[String]] = []
    var maxCellWidth = 60

    init(_ headers: [String]) { self.headers = headers }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        let cut = rows.map { $0.map { cell(String($0.split(separator: "\n").first ?? "")) } }
        var widths = headers.map(\.count)
        for row in cut { for (index, value) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], value.count) } }
        func line(_ values: [String]) -> String {
            values.enumerated().map { index, value in
                index == values.count - 1 ? value : value.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + cut.map(line)).joined(separator: "\n")
    }

    private func cell(_ text: String) -> String {
        text.count <= maxCellWidth ? text : String(text.prefix(maxCellWidth - 1)) + "…"
    }
}

/// "key: value" lines for one resource, keys aligned.
struct Details {
    var pairs: [(String, String)] = []

    mutating func add(_ key: String, _ value: String) { pairs.append((key, value)) }

    func render() -> String {
        let width = pairs.map(\.0.count).max() ?? 0
        return pairs.map { key, value in
            (key + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0) + " " + value
        }.joined(separator: "\n")
    }
}
