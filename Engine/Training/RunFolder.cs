using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Checkpoints;
using Engine.Data;
using Engine.Distributed;

namespace Engine.Training;

/// <summary>
/// A run's output folder: metrics.jsonl (one JSON object per step, appended and flushed so a
/// killed run keeps what it logged) and summary.json (written to a temp file, then renamed).
/// Opening one removes what an earlier killed run left half-written (checkpoint temp folders).
/// </summary>
public sealed class RunFolder : IDisposable
{
    readonly StreamWriter? metrics;        // null on ranks other than 0 of a data-parallel run: they write nothing
    public string Path { get; }

    /// <param name="resumeStep">For a resumed run: keep the rows logged before this step (those after the
    /// checkpoint are logged again), so the file reads as if the run had never stopped.</param>
    public RunFolder(string path, int resumeStep = 0)
    {
        Path = path;
        if (!Dist.IsRoot) return;
        Directory.CreateDirectory(path);
        Checkpoint.CleanStale(path);
        string file = MetricsPath(path);
        var kept = resumeStep > 0 && File.Exists(file)
            ? ReadMetrics(file).Where(r => r["step"]!.GetValue<int>() < resumeStep).ToList()
            : [];
        metrics = new StreamWriter(file, append: false);
        foreach (var row in kept) metrics.WriteLine(row.Text());
        metrics.Flush();
    }

    public static string MetricsPath(string dir) => System.IO.Path.Combine(dir, "metrics.jsonl");

    public void Log(IReadOnlyDictionary<string, object> row)
    {
        if (metrics is null) return;
        metrics.WriteLine(Json.Serialize(row));
        metrics.Flush();
    }

    public void WriteSummary(IReadOnlyDictionary<string, object> summary) => WriteSummary(Path, summary);

    /// <summary>summary.json, written beside and renamed so a reader never sees half of it.</summary>
    public static void WriteSummary(string dir, IReadOnlyDictionary<string, object> summary)
    {
        if (!Dist.IsRoot) return;
        string final = System.IO.Path.Combine(dir, "summary.json");
        string tmp = final + ".tmp";
        File.WriteAllText(tmp, Json.Serialize(summary, indented: true));
        File.Move(tmp, final, overwrite: true);
    }

    /// <summary>
    /// The rows of a metrics.jsonl. A last line that is not valid JSON is what a kill in the middle
    /// of a write leaves: it is dropped with a warning on stderr. A bad line before the last is an error.
    /// </summary>
    public static List<JsonObject> ReadMetrics(string file)
    {
        var lines = File.ReadAllLines(file);
        int last = lines.Length - 1;
        while (last >= 0 && string.IsNullOrWhiteSpace(lines[last])) last--;
        var rows = new List<JsonObject>();
        for (int i = 0; i <= last; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            JsonObject? row = null;
            try { row = JsonNode.Parse(lines[i]) as JsonObject; }
            catch (JsonException) { }
            if (row?["step"] is JsonValue step && step.TryGetValue(out int _)) { rows.Add(row); continue; }
            if (i == last)
            {
                Console.Error.WriteLine($"engine: warning: {file}: dropped a torn last line (line {i + 1}; the run was killed mid-write)");
                break;
            }
            throw new InvalidDataException($"{file}:{i + 1}: not a metrics row (a JSON object with an integer \"step\")");
        }
        return rows;
    }

    public void Dispose() => metrics?.Dispose();
}
