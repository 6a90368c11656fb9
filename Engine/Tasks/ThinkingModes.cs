namespace Engine.Tasks;

/// <summary>
/// Thinking on and off as a prompt-level switch, as open reasoning models do (Qwen3's /think and /no_think): a prompt
/// that ends in <see cref="OffMarker"/> asks for the answer directly, "&lt;answer&gt;60&lt;/answer&gt;" with no
/// &lt;think&gt;; any other prompt asks for the reasoning format. SFT learns the switch from data that mixes both
/// (`engine data --thinking-modes`), the format reward follows it, and `engine eval --thinking on|off` measures it.
/// </summary>
public static class ThinkingModes
{
    public const string OffMarker = " /no_think";

    public static bool IsOff(string prompt) => prompt.EndsWith(OffMarker, StringComparison.Ordinal);

    /// <summary>The problem asked with thinking off: the marker on the prompt, the answer alone as its completion.</summary>
    public static Problem Off(Problem p) =>
        IsOff(p.Prompt) ? p : new Problem(p.Prompt + OffMarker, p.Answer, $"<answer>{p.Answer}</answer>");

    /// <summary>Every other problem (odd positions) with thinking off: data that teaches both modes.</summary>
    public static IReadOnlyList<Problem> Mix(IReadOnlyList<Problem> problems) =>
        problems.Select((p, i) => i % 2 == 1 ? Off(p) : p).ToList();

    /// <summary>eval --thinking: on (as given), off (every prompt with the marker).</summary>
    public static IReadOnlyList<Problem> Apply(IReadOnlyList<Problem> problems, string? mode) => mode switch
    {
        null or "on" => problems,
        "off" => problems.Select(Off).ToList(),
        _ => throw new ArgumentException($"--thinking {mode}: expected on or off"),
    };
}
