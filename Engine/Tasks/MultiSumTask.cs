using System.Globalization;
using System.Text;

namespace Engine.Tasks;

/// <summary>
/// Sums of 2 to 6 terms of up to two digits: "12+7+33+8=" → 60. A task whose reasoning length varies and matters
/// (the thinking-budget study): the worked solution keeps a running total, one step per term after the first,
/// "&lt;think&gt;12+7=19 19+33=52 52+8=60&lt;/think&gt;&lt;answer&gt;60&lt;/answer&gt;", so a harder problem has a longer correct
/// trace (about 7 characters per extra term), and a model cut short must guess the rest.
/// </summary>
public sealed class MultiSumTask(int minTerms = 2, int maxTerms = 6) : IReasoningTask
{
    public string Name => "multisum";

    public IReadOnlyList<Problem> Generate(string split, int n, int seed) => ReasoningTasks.Split(Make, split, n, seed);

    Problem Make(Rng rng)
    {
        int count = minTerms + rng.Next(maxTerms - minTerms + 1);
        var terms = Enumerable.Range(0, count).Select(_ => rng.Next(100)).ToArray();
        string prompt = string.Join("+", terms) + "=";
        var think = new StringBuilder();
        int total = terms[0];
        foreach (int t in terms.Skip(1))
        {
            if (think.Length > 0) think.Append(' ');
            think.Append(total).Append('+').Append(t).Append('=').Append(total + t);
            total += t;
        }
        string answer = total.ToString(CultureInfo.InvariantCulture);
        return new Problem(prompt, answer, $"<think>{think}</think><answer>{answer}</answer>");
    }

    public Verdict Verify(Problem problem, string answer)
    {
        if (!long.TryParse(answer.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            return Verdict.Malformed;
        return value.ToString(CultureInfo.InvariantCulture) == problem.Answer ? Verdict.Correct : Verdict.Wrong;
    }
}
