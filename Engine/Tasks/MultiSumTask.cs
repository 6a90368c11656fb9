using System.Globalization;
using System.Text;

namespace Engine.Tasks;

/// <summary>
/// Sums of 2 to 6 terms: "12+7+33+8=" → 60. A task whose reasoning length varies and matters (the thinking-budget
/// study): the worked solution keeps a running total, one step per term after the first,
/// "&lt;think&gt;12+7=19 19+33=52 52+8=60&lt;/think&gt;&lt;answer&gt;60&lt;/answer&gt;", so a harder problem has a longer correct
/// trace (about 7 characters per extra term), and a model cut short must guess the rest. `multisum` draws terms of
/// up to two digits; `multisum:1` single digits, which a tiny model can learn to add up.
/// </summary>
public sealed class MultiSumTask(int minTerms = 2, int maxTerms = 6, int digits = 2) : IReasoningTask, IVariedThoughts
{
    public string Name => digits == 2 ? "multisum" : $"multisum:{digits}";

    public IReadOnlyList<Problem> Generate(string split, int n, int seed) => ReasoningTasks.Split(Make, split, n, seed);

    Problem Make(Rng rng)
    {
        int count = minTerms + rng.Next(maxTerms - minTerms + 1);
        int limit = (int)Math.Pow(10, digits);
        var terms = Enumerable.Range(0, count).Select(_ => rng.Next(limit)).ToArray();
        string prompt = string.Join("+", terms) + "=";
        string answer = terms.Sum().ToString(CultureInfo.InvariantCulture);
        return new Problem(prompt, answer, ReasoningTasks.Worked(Steps(terms, 1), answer));
    }

    /// <summary>
    /// The thoughts this task can write for a problem, from the fewest steps to the most: none (the answer at once);
    /// the sum in one step; fewer, larger steps (several terms a step); the running total; then the running total and
    /// up to 6 verification passes (" check " and the sum again, in reverse order, then forward, …). Each is a correct
    /// derivation; the short ones ask more of the model at once.
    /// </summary>
    public IReadOnlyList<string> Thoughts(Problem problem, int checks)
    {
        var terms = Terms(problem.Prompt);
        var thoughts = new List<string> { "" };
        for (int perStep = terms.Length - 1; perStep >= 1; perStep--) thoughts.Add(Steps(terms, perStep));
        string forward = Steps(terms, 1), backward = Steps(terms.Reverse().ToArray(), 1), text = forward;
        for (int check = 1; check <= Math.Min(checks, 6); check++)
            thoughts.Add(text += " check " + (check % 2 == 1 ? backward : forward));
        return thoughts;
    }

    /// <summary>A running total that adds perStep terms a step: (1, [12,7,33]) → "12+7=19 19+33=52".</summary>
    static string Steps(int[] terms, int perStep)
    {
        var text = new StringBuilder();
        int total = terms[0];
        for (int i = 1; i < terms.Length; i += perStep)
        {
            if (text.Length > 0) text.Append(' ');
            text.Append(total);
            for (int j = i; j < Math.Min(i + perStep, terms.Length); j++)
            {
                text.Append('+').Append(terms[j]);
                total += terms[j];
            }
            text.Append('=').Append(total);
        }
        return text.ToString();
    }

    /// <summary>The terms of a prompt ("12+7=", with or without markers after the '=').</summary>
    static int[] Terms(string prompt) =>
        prompt[..prompt.IndexOf('=')].Split('+').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();

    public Verdict Verify(Problem problem, string answer)
    {
        if (!long.TryParse(answer.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            return Verdict.Malformed;
        return value.ToString(CultureInfo.InvariantCulture) == problem.Answer ? Verdict.Correct : Verdict.Wrong;
    }
}
