using System.Globalization;
using System.Text.RegularExpressions;

namespace Engine.Tasks;

/// <summary>
/// Length-controlled reasoning (L1 / LCPO, Aggarwal &amp; Welleck 2025): the prompt carries a thinking budget,
/// " /budget 16", and the length-control reward pays −|thinking length − budget| (see
/// Rewards.LengthControlReward), so RL teaches the model to think about as long as it is told, without forcing.
/// `grpo --length-budgets 8,16,32` puts the budgets on the training prompts; `eval --budgets … --budget-in-prompt`
/// asks held-out problems with them.
/// </summary>
public static partial class LengthControl
{
    public const string Marker = " /budget ";

    [GeneratedRegex(@" /budget (\d+)$")]
    private static partial Regex BudgetAtEnd();

    /// <summary>The problem with a budget on its prompt (after any thinking-mode marker's place: at the end).</summary>
    public static Problem WithBudget(Problem p, int budget) =>
        budget < 0 ? throw new ArgumentException($"--length-budgets: {budget} is not >= 0")
            : new Problem(p.Prompt + Marker + budget.ToString(CultureInfo.InvariantCulture), p.Answer, p.Completion);

    /// <summary>The budget a prompt asks for, or null.</summary>
    public static int? Budget(string prompt)
    {
        var m = BudgetAtEnd().Match(prompt);
        return m.Success ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The budgets in turn over the problems (deterministic: problem i gets budgets[i mod n]).</summary>
    public static IReadOnlyList<Problem> Assign(IReadOnlyList<Problem> problems, IReadOnlyList<int> budgets) =>
        budgets.Count == 0 ? problems : problems.Select((p, i) => WithBudget(p, budgets[i % budgets.Count])).ToList();

    /// <summary>Characters between the first &lt;think&gt; and its &lt;/think&gt; (or the end); 0 without thinking. With
    /// the char tokenizer that is the thinking's token count.</summary>
    public static int ThinkChars(string response)
    {
        int open = response.IndexOf("<think>", StringComparison.Ordinal);
        if (open < 0) return 0;
        int start = open + "<think>".Length, close = response.IndexOf("</think>", start, StringComparison.Ordinal);
        return (close < 0 ? response.Length : close) - start;
    }
}
