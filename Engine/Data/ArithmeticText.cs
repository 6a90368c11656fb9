namespace Engine.Data;

/// <summary>
/// A generated corpus for runs that need no files: lines "a+b=c" / "a-b=c" with small numbers.
/// Nothing can be downloaded here, and a corpus with learnable structure shows a loss that falls.
/// </summary>
public static class ArithmeticText
{
    public static string Generate(int lines, int seed, int maxOperand = 99)
    {
        var rng = new Random(seed);
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < lines; i++)
        {
            int a = rng.Next(maxOperand + 1), b = rng.Next(maxOperand + 1);
            if (rng.Next(2) == 0) sb.Append(a).Append('+').Append(b).Append('=').Append(a + b).Append('\n');
            else sb.Append(a).Append('-').Append(b).Append('=').Append(a - b).Append('\n');
        }
        return sb.ToString();
    }
}
