using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Data;

/// <summary>
/// How the engine writes JSON: relaxed escaping, so `+ &lt; &gt;` and non-ASCII text stay as they are
/// (`grep '&lt;/answer&gt;'` finds them, as in Python's json.dumps(ensure_ascii=False)). Quotes,
/// backslashes and control characters are still escaped, so every line stays valid JSON.
/// </summary>
public static class Json
{
    public static readonly JsonSerializerOptions Line = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    public static readonly JsonSerializerOptions Indented = new(Line) { WriteIndented = true };

    public static string Serialize<T>(T value, bool indented = false) =>
        JsonSerializer.Serialize(value, indented ? Indented : Line);

    public static string Text(this JsonNode node, bool indented = false) => node.ToJsonString(indented ? Indented : Line);
}
