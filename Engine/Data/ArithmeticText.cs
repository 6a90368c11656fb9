namespace Engine.Data;

/// <summary>
/// Generated data for runs that need no files: "a+b=c" / "a-b=c" with small numbers, as one text
/// for pretraining or as prompt/completion pairs ("12+7=" → "19") for SFT. Nothing can be
/// downloaded here, and data with learnable structure shows a loss that falls.
/// </summary>
public static class ArithmeticText
{
    public static IEnumerable<(string Prompt, string Completion)> Pairs(int count, int seed, int maxOperand = 99)
    {
        var rng = new Rng(seed);
        for (int i = 0; i < count; i++)
        {
            int a = rng.Next(maxOperand + 1), b = rng.Next(maxOperand + 1);
            bool plus = rng.Next(2) == 0;
            yield return ($"{a}{(plus ? '+' : '-')}{b}=", (plus ? a + b : a - b).ToString());
        }
    }

    public static string Generate(int lines, int seed, int maxOperand = 99) =>
        string.Concat(Pairs(lines, seed, maxOperand).Select(p => p.Prompt + p.Completion + "\n"));
}
