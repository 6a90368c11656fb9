using System.Text.Json;

namespace Engine.Training;

/// <summary>
/// A run's output folder: metrics.jsonl (one JSON object per step, appended and flushed so a
/// killed run keeps what it logged) and summary.json (written to a temp file, then renamed).
/// </summary>
public sealed class RunFolder : IDisposable
{
    readonly StreamWriter metrics;
    public string Path { get; }

    /// <param name="resumeStep">For a resumed run: keep the rows logged before this step (those after the
    /// checkpoint are logged again), so the file reads as if the run had never stopped.</param>
    public RunFolder(string path, int resumeStep = 0)
    {
        Path = path;
        Directory.CreateDirectory(path);
        string file = System.IO.Path.Combine(path, "metrics.jsonl");
        var kept = resumeStep > 0 && File.Exists(file)
            ? File.ReadAllLines(file).Where(l => JsonDocument.Parse(l).RootElement.GetProperty("step").GetInt32() < resumeStep).ToList()
            : [];
        metrics = new StreamWriter(file, append: false);
        foreach (var line in kept) metrics.WriteLine(line);
        metrics.Flush();
    }

    public void Log(IReadOnlyDictionary<string, object> row)
    {
        metrics.WriteLine(JsonSerializer.Serialize(row));
        metrics.Flush();
    }

    public void WriteSummary(IReadOnlyDictionary<string, object> summary)
    {
        string final = System.IO.Path.Combine(Path, "summary.json");
        string tmp = final + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmp, final, overwrite: true);
    }

    public void Dispose() => metrics.Dispose();
}
