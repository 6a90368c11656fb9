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

    /// <summary>
    /// SFT data for length control: the problem with the budget on its prompt and, as its worked solution, the
    /// task's thought whose length is closest to the budget (the longer one on a tie). A model SFT'd on it has seen
    /// the marker mean something before L1's reward sharpens it.
    /// </summary>
    public static Problem Matched(Problem p, int budget, IVariedThoughts task)
    {
        var thought = task.Thoughts(p, int.MaxValue).OrderBy(t => Math.Abs(t.Length - budget))
            .ThenByDescending(t => t.Length).First();
        return WithBudget(p with { Completion = ReasoningTasks.Worked(thought, p.Answer) }, budget);
    }

    /// <summary>The budgets in turn over the problems, each with its matched worked solution.</summary>
    public static IReadOnlyList<Problem> Matched(IReadOnlyList<Problem> problems, IReadOnlyList<int> budgets,
        IVariedThoughts task) => problems.Select((p, i) => Matched(p, budgets[i % budgets.Count], task)).ToList();

    /// <summary>
    /// Worked solutions of random verbosity (no budget on the prompt): one of the task's thoughts up to the running
    /// total with one verification pass, uniformly. An SFT base whose thinking length varies from problem to
    /// problem, so that RL has lengths to choose between (the R1-Zero-style length study).
    /// </summary>
    public static IReadOnlyList<Problem> Varied(IReadOnlyList<Problem> problems, IVariedThoughts task, int seed)
    {
        var rng = new Rng(seed * 7919L + 17);
        return problems.Select(p =>
        {
            var thoughts = task.Thoughts(p, checks: 1);
            return p with { Completion = ReasoningTasks.Worked(thoughts[rng.Next(thoughts.Count)], p.Answer) };
        }).ToList();
    }
}
