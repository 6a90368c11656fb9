using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Data;

/// <summary>JSON Lines files, one object per line; every error names the file and the line.</summary>
public static class Jsonl
{
    public static IEnumerable<(int Line, JsonObject Row)> Read(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"--data {path}: no such file");
        int n = 0;
        foreach (var text in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonObject? row;
            try { row = JsonNode.Parse(text) as JsonObject; }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{n}: not valid JSON ({e.Message})"); }
            yield return (n, row ?? throw new InvalidDataException($"{path}:{n}: expected a JSON object"));
        }
    }

    public static string Field(JsonObject row, string name, string path, int line) =>
        row[name] is JsonValue v && v.TryGetValue(out string? s) ? s
            : throw new InvalidDataException($"{path}:{line}: missing string field \"{name}\"");

    /// <summary>Writes beside the target and renames (a killed run never leaves half a file); creates the folder.</summary>
    public static void WriteAtomic(string path, IEnumerable<JsonObject> rows)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        Write(path + ".tmp", rows);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public static void Write(string path, IEnumerable<JsonObject> rows)
    {
        using var w = new StreamWriter(path);
        foreach (var r in rows) w.WriteLine(r.Text());
    }
}
