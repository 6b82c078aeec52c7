import Foundation
import Incidents

/// What the statistics report shows; the command fills it from the store, `Report.html` renders it.
public struct ReportData: Sendable {
    public var title: String
    public var source: String
    public var attribution: String?
    /// When it was made, as the reader should see it ("2026-12-03 14:05 (Europe/Berlin)").
    public var generated: String
    public var frequency: Frequency
    /// The history shown before the forecast: (period start label, count or nil if missing).
    public var history: [(label: String, value: Double?)]
    public var forecast: [(label: String, point: ForecastPoint)]
    public var backtest: [Backtest.Score]
    public var backtestDesign: String
    /// Weekly totals of the whole history: (week label, incidents or nil).
    public var weekly: [(label: String, value: Double?)]
    /// Response-time distribution per category: exact quantiles (p10, p50, p90) and counts.
    public var responseByCategory: [(name: String, n: Int, q: [Double])]
    public var target: HilfsfristTarget
    public var compliance: [ComplianceRow]

    public init(title: String, source: String, attribution: String?, generated: String, frequency: Frequency) {
        self.title = title; self.source = source; self.attribution = attribution; self.generated = generated; self.frequency = frequency
        history = []; forecast = []; backtest = []; backtestDesign = ""; weekly = []; responseByCategory = []
        target = .agbfCriticalHouseFire; compliance = []
    }
}

/// A static, self-contained HTML report: inline CSS and SVG, no script, no font, no image
/// fetched from anywhere, so it opens offline and can be mailed or archived as one file. Made
/// to be read by everyone: each figure has a text alternative (`role="img"`, `<title>`,
/// `<desc>` and a caption saying what it shows) and its numbers in a table; text and lines are
/// dark on white (contrast above 7:1, WCAG 2.1 AAA); nothing is told by colour alone — the
/// forecast's bands are labelled on the chart, lines differ by dash pattern, bars carry their
/// values as text, and a goal is a labelled line.
public enum Report {
    static let ink = "#1a1a1a", blue = "#0b3d6e", band80 = "#9bb8d6", band95 = "#d3e1ee", grid = "#c8c8c8", warn = "#7a1f00"

    public static func html(_ d: ReportData) -> String {
        var body = ""
        body += "<header><h1>\(esc(d.title))</h1><p>Source <strong>\(esc(d.source))</strong>. Generated \(esc(d.generated)) by Florian.</p>"
        if let a = d.attribution { body += "<p class=\"attr\">Data: \(esc(a)).</p>" }
        body += "</header><main>"
        body += forecastSection(d)
        body += historySection(d)
        body += responseSection(d)
        body += complianceSection(d)
        body += "</main>"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(esc(d.title))</title>
            <style>
            body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:\(ink);background:#fff;margin:0 auto;max-width:980px;padding:1rem 1.5rem;line-height:1.45}
            h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid \(grid)}
            figure{margin:1rem 0}figcaption{font-size:.95rem;margin-top:.3rem}svg{max-width:100%;height:auto}
            table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}th,td{border:1px solid \(grid);padding:.2rem .5rem;text-align:right}th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
            .attr{font-size:.9rem}details{margin:.4rem 0}summary{cursor:pointer}
            </style></head><body>
            \(body)
            </body></html>

            """
    }

    // MARK: - Sections

    static func forecastSection(_ d: ReportData) -> String {
        guard !d.forecast.isEmpty else { return "" }
        let unit = d.frequency == .day ? "day" : "hour"
        let hist = d.history.map(\.value), fc = d.forecast.map(\.point)
        let n = hist.count + fc.count
        let top = max(hist.compactMap { $0 }.max() ?? 0, fc.map(\.hi95).max() ?? 0) * 1.08
        let c = Chart(width: 920, height: 360, yMax: max(top, 1), xCount: n)
        var svg = c.axes(yLabel: "incidents per \(unit)")
        let x0 = hist.count
        // Bands first (95 % below 80 %), then the history and the mean.
        svg += c.band(from: x0, lo: fc.map(\.lo95), hi: fc.map(\.hi95), fill: band95)
        svg += c.band(from: x0, lo: fc.map(\.lo80), hi: fc.map(\.hi80), fill: band80)
        svg += c.line(from: 0, hist, stroke: ink, dash: nil, width: 1.6)
        svg += c.line(from: x0, fc.map { Optional($0.mean) }, stroke: blue, dash: "7 4", width: 2.2)
        svg += c.vertical(at: Double(x0) - 0.5, label: "training end")
        if let last = fc.last {
            let xl = c.x(Double(n - 1))
            svg += c.text(x: xl - 4, y: c.y(last.hi95) - 4, "95 %", anchor: "end")
            svg += c.text(x: xl - 4, y: c.y((last.hi80 + last.mean) / 2) + 4, "80 %", anchor: "end")
        }
        svg += c.xLabels(d.history.map(\.label) + d.forecast.map(\.label))
        svg += c.legend([("solid line", "recorded incidents"), ("dashed line", "forecast mean"), ("dark band", "80 % interval"), ("light band", "95 % interval")])
        let first = fc.first!, last = fc.last!
        let desc = "Recorded incidents per \(unit) for the last \(hist.count) \(unit)s, then the forecast for \(fc.count) \(unit)s: "
            + "the first forecast \(unit) expects \(fmt(first.mean)) (80 % interval \(fmt(first.lo80))–\(fmt(first.hi80))), the last \(fmt(last.mean)) (\(fmt(last.lo80))–\(fmt(last.hi80)))."
        var s = "<section><h2>Forecast</h2>"
        s += figure(svg: svg, chart: c, title: "Incidents per \(unit): history and forecast", desc: desc)
        s += "<details><summary>Forecast as a table</summary><table><tr><th>period</th><th>mean</th><th>80 % from</th><th>80 % to</th><th>95 % from</th><th>95 % to</th></tr>"
        for (label, p) in d.forecast { s += "<tr><td>\(esc(label))</td><td>\(fmt(p.mean))</td><td>\(fmt(p.lo80))</td><td>\(fmt(p.hi80))</td><td>\(fmt(p.lo95))</td><td>\(fmt(p.hi95))</td></tr>" }
        s += "</table></details>"
        if !d.backtest.isEmpty {
            s += "<h3>How good the forecasts were</h3><p>\(esc(d.backtestDesign))</p><table><tr><th>model</th><th>periods</th><th>MAE</th><th>MASE</th><th>MAPE</th><th>80 % covered</th><th>95 % covered</th></tr>"
            for b in d.backtest {
                s += "<tr><td>\(esc(b.model))</td><td>\(b.periods)</td><td>\(String(format: "%.2f", b.mae))</td><td>\(String(format: "%.3f", b.mase))</td><td>\(b.mape.map { String(format: "%.2f %%", $0) } ?? "n/a")</td><td>\(String(format: "%.1f %%", 100 * b.coverage80))</td><td>\(String(format: "%.1f %%", 100 * b.coverage95))</td></tr>"
            }
            s += "</table>"
        }
        return s + "</section>"
    }

    static func historySection(_ d: ReportData) -> String {
        guard d.weekly.count >= 2 else { return "" }
        let values = d.weekly.map(\.value)
        let c = Chart(width: 920, height: 300, yMax: (values.compactMap { $0 }.max() ?? 1) * 1.08, xCount: values.count)
        var svg = c.axes(yLabel: "incidents per week")
        svg += c.line(from: 0, values, stroke: ink, dash: nil, width: 1.4)
        svg += c.xLabels(d.weekly.map(\.label))
        let present = values.compactMap { $0 }
        let lo = present.min() ?? 0, hi = present.max() ?? 0
        let lowWeek = d.weekly.first { $0.value == lo }?.label ?? "", highWeek = d.weekly.first { $0.value == hi }?.label ?? ""
        let desc = "Incidents per week over \(d.weekly.count) weeks, \(d.weekly.first!.label) to \(d.weekly.last!.label): fewest \(fmt(lo)) (\(lowWeek)), most \(fmt(hi)) (\(highWeek)). Weeks with a missing day are left out."
        return "<section><h2>History</h2>" + figure(svg: svg, chart: c, title: "Incidents per week", desc: desc) + "</section>"
    }

    static func responseSection(_ d: ReportData) -> String {
        guard !d.responseByCategory.isEmpty else { return "" }
        let rows = d.responseByCategory
        let maxT = max(rows.map { $0.q[2] }.max() ?? 1, d.target.seconds) * 1.1
        let c = Chart(width: 920, height: 60 + 34 * rows.count, yMax: 1, xCount: 1, left: 190)
        var svg = "<rect x=\"0\" y=\"0\" width=\"920\" height=\"\(c.height)\" fill=\"#fff\"/>"
        let xs = { (t: Double) -> Double in c.left + (c.width - c.left - 300) * t / maxT }
        for tick in stride(from: 0.0, through: maxT, by: maxT > 1200 ? 300 : 120) {
            svg += "<line x1=\"\(f(xs(tick)))\" y1=\"20\" x2=\"\(f(xs(tick)))\" y2=\"\(c.height - 30)\" stroke=\"\(grid)\"/>"
            svg += c.text(x: xs(tick), y: Double(c.height) - 12, "\(Int(tick / 60)) min", anchor: "middle")
        }
        for (i, r) in rows.enumerated() {
            let y = 40.0 + 34 * Double(i)
            svg += c.text(x: c.left - 10, y: y + 5, "\(r.name) (n=\(r.n))", anchor: "end")
            svg += "<line x1=\"\(f(xs(r.q[0])))\" y1=\"\(f(y))\" x2=\"\(f(xs(r.q[2])))\" y2=\"\(f(y))\" stroke=\"\(blue)\" stroke-width=\"6\"/>"
            svg += "<circle cx=\"\(f(xs(r.q[1])))\" cy=\"\(f(y))\" r=\"6\" fill=\"#fff\" stroke=\"\(ink)\" stroke-width=\"2\"/>"
            svg += c.text(x: xs(r.q[2]) + 8, y: y + 5, "median \(mmss(r.q[1])), 90 % within \(mmss(r.q[2]))", anchor: "start")
        }
        svg += "<line x1=\"\(f(xs(d.target.seconds)))\" y1=\"14\" x2=\"\(f(xs(d.target.seconds)))\" y2=\"\(c.height - 30)\" stroke=\"\(warn)\" stroke-width=\"2\" stroke-dasharray=\"3 3\"/>"
        svg += c.text(x: xs(d.target.seconds) + 4, y: 14, "target \(mmss(d.target.seconds))", anchor: "start")
        let desc = rows.map { "\($0.name): median \(mmss($0.q[1])), 10 % within \(mmss($0.q[0])), 90 % within \(mmss($0.q[2])) (\($0.n) incidents)" }.joined(separator: "; ")
        var s = "<section><h2>Response times</h2><p>Call to first unit on scene. The bar runs from the 10th to the 90th percentile, the circle is the median (exact quantiles); the dashed line is the target.</p>"
        s += figure(svg: svg, chart: c, title: "Response time per category", desc: desc)
        return s + "</section>"
    }

    static func complianceSection(_ d: ReportData) -> String {
        let rows = d.compliance.filter { $0.area != nil && $0.measured > 0 }
        guard let overall = d.compliance.first, overall.measured > 0 else {
            return "<section><h2>Hilfsfrist compliance</h2><p>No incident the target applies to has a response time.</p></section>"
        }
        let c = Chart(width: 920, height: 70 + 26 * rows.count, yMax: 1, xCount: 1, left: 230)
        var svg = "<rect x=\"0\" y=\"0\" width=\"920\" height=\"\(c.height)\" fill=\"#fff\"/>"
        let xs = { (v: Double) -> Double in c.left + (c.width - c.left - 110) * v }
        for tick in stride(from: 0.0, through: 1.0, by: 0.2) {
            svg += "<line x1=\"\(f(xs(tick)))\" y1=\"20\" x2=\"\(f(xs(tick)))\" y2=\"\(c.height - 30)\" stroke=\"\(grid)\"/>"
            svg += c.text(x: xs(tick), y: Double(c.height) - 12, "\(Int(tick * 100)) %", anchor: "middle")
        }
        for (i, r) in rows.enumerated() {
            let y = 30.0 + 26 * Double(i), share = r.share ?? 0
            let below = share < d.target.goal
            svg += c.text(x: c.left - 10, y: y + 14, r.area!, anchor: "end")
            svg += "<rect x=\"\(f(c.left))\" y=\"\(f(y + 2))\" width=\"\(f(xs(share) - c.left))\" height=\"16\" fill=\"\(below ? "#fff" : blue)\" stroke=\"\(blue)\" stroke-width=\"1.5\"/>"
            svg += c.text(x: xs(share) + 6, y: y + 14, String(format: "%.1f %% of %d", 100 * share, r.measured) + (below ? " (below goal)" : ""), anchor: "start")
        }
        svg += "<line x1=\"\(f(xs(d.target.goal)))\" y1=\"14\" x2=\"\(f(xs(d.target.goal)))\" y2=\"\(c.height - 30)\" stroke=\"\(warn)\" stroke-width=\"2\" stroke-dasharray=\"3 3\"/>"
        svg += c.text(x: xs(d.target.goal), y: 12, "goal \(Int((d.target.goal * 100).rounded())) %", anchor: "middle")
        let met = rows.filter { ($0.share ?? 0) >= d.target.goal }.count
        let desc = String(format: "Share of incidents reached within %@, per area: overall %.1f %% of %d; %d of %d areas meet the goal of %.0f %%.", mmss(d.target.seconds), 100 * (overall.share ?? 0), overall.measured, met, rows.count, 100 * d.target.goal)
        var s = "<section><h2>Hilfsfrist compliance</h2><p>\(esc(d.target.name)): share of incidents\(d.target.categories.map { " (" + $0.sorted().joined(separator: ", ") + ")" } ?? "") whose first unit arrived within \(mmss(d.target.seconds)) of the call. Filled bars meet the goal, outlined bars are below it.</p>"
        s += figure(svg: svg, chart: c, title: "Hilfsfrist compliance per area", desc: desc)
        s += "<details><summary>Compliance as a table</summary><table><tr><th>area</th><th>incidents measured</th><th>within target</th><th>share</th><th>median</th><th>90 %</th><th>without arrival time</th></tr>"
        for r in d.compliance where r.measured > 0 || r.unmeasured > 0 {
            s += "<tr><td>\(esc(r.area ?? "all areas"))</td><td>\(r.measured)</td><td>\(r.within)</td><td>\(r.share.map { String(format: "%.1f %%", 100 * $0) } ?? "–")</td><td>\(r.median.map(mmss) ?? "–")</td><td>\(r.p90.map(mmss) ?? "–")</td><td>\(r.unmeasured)</td></tr>"
        }
        return s + "</table></details></section>"
    }

    // MARK: - Drawing

    static func figure(svg: String, chart c: Chart, title: String, desc: String) -> String {
        let id = "f" + String(title.unicodeScalars.reduce(UInt32(5381)) { ($0 &* 33) &+ $1.value }, radix: 16)
        return "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(c.width)) \(c.height)\" width=\"\(Int(c.width))\" height=\"\(c.height)\" role=\"img\" aria-labelledby=\"\(id)t \(id)d\">"
            + "<title id=\"\(id)t\">\(esc(title))</title><desc id=\"\(id)d\">\(esc(desc))</desc>" + svg + "</svg>"
            + "<figcaption><strong>\(esc(title)).</strong> \(esc(desc))</figcaption></figure>"
    }

    struct Chart {
        var width: Double, height: Int, yMax: Double, xCount: Int
        var left = 70.0, right = 20.0, top = 20.0, bottom = 80.0
        init(width: Double, height: Int, yMax: Double, xCount: Int, left: Double = 70) {
            self.width = width; self.height = height; self.yMax = yMax; self.xCount = xCount; self.left = left
        }
        var plotWidth: Double { width - left - right }
        var plotHeight: Double { Double(height) - top - bottom }
        func x(_ i: Double) -> Double { left + plotWidth * (xCount > 1 ? i / Double(xCount - 1) : 0.5) }
        func y(_ v: Double) -> Double { top + plotHeight * (1 - v / yMax) }

        func axes(yLabel: String) -> String {
            var s = "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(height)\" fill=\"#fff\"/>"
            let step = Report.niceStep(yMax / 5)
            for v in stride(from: 0.0, through: yMax, by: step) {
                s += "<line x1=\"\(f(left))\" y1=\"\(f(y(v)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(v)))\" stroke=\"\(Report.grid)\" stroke-width=\"1\"/>"
                s += text(x: left - 6, y: y(v) + 4, Report.fmt(v), anchor: "end")
            }
            s += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotHeight))\" stroke=\"\(Report.ink)\"/>"
            s += "<text x=\"14\" y=\"\(f(top + plotHeight / 2))\" transform=\"rotate(-90 14 \(f(top + plotHeight / 2)))\" text-anchor=\"middle\" font-size=\"13\" fill=\"\(Report.ink)\">\(Report.esc(yLabel))</text>"
            return s
        }

        func line(from start: Int, _ values: [Double?], stroke: String, dash: String?, width w: Double) -> String {
            var out = "", d = ""
            for (i, v) in values.enumerated() {
                guard let v else {
                    if !d.isEmpty { out += path(d, stroke, dash, w); d = "" }
                    continue
                }
                d += (d.isEmpty ? "M" : "L") + f(x(Double(start + i))) + " " + f(y(v)) + " "
            }
            if !d.isEmpty { out += path(d, stroke, dash, w) }
            return out
        }

        func path(_ d: String, _ stroke: String, _ dash: String?, _ w: Double) -> String {
            "<path d=\"\(d)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(w)\"" + (dash.map { " stroke-dasharray=\"\($0)\"" } ?? "") + "/>"
        }

        func band(from start: Int, lo: [Double], hi: [Double], fill: String) -> String {
            guard !lo.isEmpty else { return "" }
            var d = ""
            for (i, v) in hi.enumerated() { d += (i == 0 ? "M" : "L") + f(x(Double(start + i))) + " " + f(y(v)) + " " }
            for (i, v) in lo.enumerated().reversed() { d += "L" + f(x(Double(start + i))) + " " + f(y(v)) + " " }
            return "<path d=\"\(d)Z\" fill=\"\(fill)\" stroke=\"none\"/>"
        }

        func vertical(at i: Double, label: String) -> String {
            "<line x1=\"\(f(x(i)))\" y1=\"\(f(top))\" x2=\"\(f(x(i)))\" y2=\"\(f(top + plotHeight))\" stroke=\"\(Report.ink)\" stroke-dasharray=\"2 3\"/>"
                + text(x: x(i) - 4, y: top + 12, label, anchor: "end")
        }

        func text(x: Double, y: Double, _ s: String, anchor: String) -> String {
            "<text x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\" font-size=\"13\" fill=\"\(Report.ink)\">\(Report.esc(s))</text>"
        }

        func xLabels(_ labels: [String]) -> String {
            guard !labels.isEmpty else { return "" }
            let every = max(1, labels.count / 8)
            var s = ""
            for i in stride(from: 0, to: labels.count, by: every) {
                s += text(x: x(Double(i)), y: top + plotHeight + 18, labels[i], anchor: "middle")
            }
            return s
        }

        func legend(_ items: [(String, String)]) -> String {
            var s = "", xx = left
            let yy = Double(height) - 22
            for (i, item) in items.enumerated() {
                switch i {
                case 0: s += "<line x1=\"\(f(xx))\" y1=\"\(f(yy - 4))\" x2=\"\(f(xx + 28))\" y2=\"\(f(yy - 4))\" stroke=\"\(Report.ink)\" stroke-width=\"1.6\"/>"
                case 1: s += "<line x1=\"\(f(xx))\" y1=\"\(f(yy - 4))\" x2=\"\(f(xx + 28))\" y2=\"\(f(yy - 4))\" stroke=\"\(Report.blue)\" stroke-width=\"2.2\" stroke-dasharray=\"7 4\"/>"
                case 2: s += "<rect x=\"\(f(xx))\" y=\"\(f(yy - 11))\" width=\"28\" height=\"14\" fill=\"\(Report.band80)\"/>"
                default: s += "<rect x=\"\(f(xx))\" y=\"\(f(yy - 11))\" width=\"28\" height=\"14\" fill=\"\(Report.band95)\" stroke=\"\(Report.grid)\"/>"
                }
                s += text(x: xx + 34, y: yy, item.1, anchor: "start")
                xx += 34 + Double(item.1.count) * 7.5 + 24
            }
            return s
        }
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0 else { return 1 }
        let p = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 2.5, 5, 10] where m * p >= raw { return m * p }
        return 10 * p
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }
    static func fmt(_ v: Double) -> String { v >= 100 || v == v.rounded() ? String(format: "%.0f", v) : String(format: "%.1f", v) }
    static func mmss(_ s: Double) -> String { let t = Int(s.rounded()); return "\(t / 60):" + LocalClock.pad(t % 60, 2) + " min" }

    /// HTML text and attribute escaping.
    public static func esc(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.utf8.count)
        for ch in s {
            switch ch {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&#39;"
            default: o.append(ch)
            }
        }
        return o
    }
}
