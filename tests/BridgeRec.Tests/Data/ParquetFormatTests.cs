using System.Globalization;
using System.Text;
using BridgeRec.Data;
using Parquet;
using Parquet.Schema;

namespace BridgeRec.Tests.Data;

public sealed class ParquetFormatTests : IDisposable
{
    readonly TestData.TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    /// <summary>40 interactions of 7 users over 9 items: text user ids, integer item ids, ratings with fractions, Unix seconds.</summary>
    static (string[] Users, long[] Items, double[] Ratings, long[] Times) Sample()
    {
        int n = 40;
        var users = new string[n]; var items = new long[n]; var ratings = new double[n]; var times = new long[n];
        for (int k = 0; k < n; k++)
        {
            users[k] = "user-" + (k * 5 % 7);
            items[k] = 100 + k * 4 % 9;
            ratings[k] = 1 + k % 9 * 0.5;
            times[k] = 1_700_000_000L + k * 37 % 11 * 3600;
        }
        return (users, items, ratings, times);
    }

    /// <summary>Writes the columns as Parquet, <paramref name="rowsPerGroup"/> rows per row group.</summary>
    static async Task WriteParquet(string path, int rowsPerGroup, params (DataField Field, Array Values)[] columns)
    {
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(columns.Select(c => (Field)c.Field).ToArray()), stream);
        int n = columns[0].Values.Length;
        for (int start = 0; start < n; start += rowsPerGroup)
        {
            int count = Math.Min(rowsPerGroup, n - start);
            using var rg = writer.CreateRowGroup();
            foreach (var (field, values) in columns)
            {
                switch (values)
                {
                    case string?[] s: await rg.WriteAsync(field, s[start..(start + count)]); break;
                    case long[] l: await rg.WriteAsync<long>(field, l.AsMemory(start, count)); break;
                    case double[] d: await rg.WriteAsync<double>(field, d.AsMemory(start, count)); break;
                    case double?[] d: await rg.WriteAsync<double>(field, d.AsMemory(start, count)); break;
                    case int[] i: await rg.WriteAsync<int>(field, i.AsMemory(start, count)); break;
                    case DateTime[] t: await rg.WriteAsync<DateTime>(field, t.AsMemory(start, count)); break;
                    default: throw new ArgumentException($"no writer for {values.GetType()}");
                }
            }
        }
    }

    [Fact]
    public async Task Parquet_and_the_same_data_as_csv_load_to_identical_datasets()
    {
        var (users, items, ratings, times) = Sample();
        string csv = _tmp.File("ratings.csv");
        var text = new StringBuilder("user_id,item_id,rating,timestamp\n");
        for (int k = 0; k < users.Length; k++)
            text.Append(CultureInfo.InvariantCulture, $"{users[k]},{items[k]},{ratings[k]},{times[k]}\n");
        File.WriteAllText(csv, text.ToString());
        string parquet = _tmp.File("ratings.parquet");
        // Row groups of 16 rows: 16 + 16 + 8, so the loader must carry ids and row numbers across groups.
        await WriteParquet(parquet, 16,
            (new DataField<string>("user_id"), users), (new DataField<long>("item_id"), items),
            (new DataField<double>("rating"), ratings), (new DataField<long>("timestamp"), times));

        var fromCsv = GenericFormat.Load(csv);
        var fromParquet = GenericFormat.Load(parquet);
        AssertSameDataset(fromCsv, fromParquet);
        Assert.Equal(7, fromParquet.NumUsers);
        Assert.Equal(9, fromParquet.NumItems);

        // The command line's path (--data FILE) gives the same split too.
        var splitCsv = DataSource.Load(new DataConfig { Path = csv });
        var splitParquet = DataSource.Load(new DataConfig { Path = parquet });
        AssertSameInteractions(splitCsv.Train, splitParquet.Train);
        AssertSameInteractions(splitCsv.Validation, splitParquet.Validation);
        AssertSameInteractions(splitCsv.Test, splitParquet.Test);
    }

    [Fact]
    public async Task Columns_found_by_alias_in_any_order_with_nullable_and_text_columns()
    {
        string parquet = _tmp.File("x.parquet");
        await WriteParquet(parquet, 2,
            (new DataField<string>("comment"), new string?[] { "a", null, "c" }),
            (new DataField<double?>("Rating"), new double?[] { 4, 2.5, 5 }),
            (new DataField<int>("movieId"), new[] { 7, 8, 7 }),
            (new DataField<string>("userId"), new string?[] { " u1 ", "u2", "u1" }),
            (new DataField<string>("ts"), new string?[] { "2024-01-02T10:00:00Z", "5", "6.9" }));
        var d = GenericFormat.Load(parquet);
        Assert.Equal("x", d.Name);
        Assert.Equal(["u1", "u2"], d.Users.Originals);
        Assert.Equal(["7", "8"], d.Items.Originals);
        Assert.Equal([4f, 2.5f, 5f], d.Interactions.Ratings!);
        Assert.Equal([1704189600L, 5, 6], d.Interactions.Timestamps!);

        // A Parquet date-time column gives Unix seconds, as the same instant written in ISO-8601 text does.
        string dated = _tmp.File("dated.parquet");
        await WriteParquet(dated, 8, (new DataField<string>("user"), new string?[] { "u1" }), (new DataField<string>("item"), new string?[] { "i1" }),
            (new DataField<DateTime>("time"), new[] { new DateTime(2024, 1, 2, 10, 0, 0, DateTimeKind.Utc) }));
        Assert.Equal([1704189600L], GenericFormat.Load(dated).Interactions.Timestamps!);
    }

    [Fact]
    public void A_file_that_is_not_parquet_gives_an_error_naming_the_file()
    {
        string fake = _tmp.File("ratings.parquet");
        File.WriteAllText(fake, "user,item\nalice,m1\n");
        var e = Assert.Throws<DataFormatException>(() => GenericFormat.Load(fake));
        Assert.Equal(fake, e.FilePath);
        Assert.StartsWith($"{fake}: not a readable Parquet file", e.Message);
    }

    [Fact]
    public async Task A_truncated_parquet_file_gives_an_error_naming_the_file()
    {
        var (users, items, _, _) = Sample();
        string whole = _tmp.File("whole.parquet");
        await WriteParquet(whole, 16, (new DataField<string>("user"), users), (new DataField<long>("item"), items));
        byte[] bytes = File.ReadAllBytes(whole);
        string cut = _tmp.File("cut.parquet");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<DataFormatException>(() => GenericFormat.Load(cut));
        Assert.Equal(cut, e.FilePath);
        Assert.Contains(cut, e.Message);
        Assert.Contains("Parquet", e.Message);
    }

    [Fact]
    public async Task Row_errors_name_the_file_the_row_across_row_groups_and_the_value()
    {
        string nullUser = _tmp.File("null-user.parquet");
        await WriteParquet(nullUser, 2,
            (new DataField<string>("user"), new string?[] { "a", "b", "c", null }), (new DataField<long>("item"), new long[] { 1, 2, 3, 4 }));
        var e = Assert.Throws<DataFormatException>(() => GenericFormat.Load(nullUser));
        Assert.Equal((nullUser, 4L, true), (e.FilePath, e.Line, e.IsRow));
        Assert.StartsWith($"{nullUser}, row 4: missing user id (null in column 'user')", e.Message);

        string badRating = _tmp.File("bad-rating.parquet");
        await WriteParquet(badRating, 2,
            (new DataField<string>("user"), new string?[] { "a", "b", "c" }), (new DataField<long>("item"), new long[] { 1, 2, 3 }),
            (new DataField<string>("rating"), new string?[] { "4", "5", "five" }));
        e = Assert.Throws<DataFormatException>(() => GenericFormat.Load(badRating));
        Assert.Equal(3, e.Line);
        Assert.Equal("five", e.Value);
        Assert.StartsWith($"{badRating}, row 3: non-numeric rating (value 'five'); expected a number", e.Message);

        string emptyItem = _tmp.File("empty-item.parquet");
        await WriteParquet(emptyItem, 8,
            (new DataField<string>("user"), new string?[] { "a", "b" }), (new DataField<string>("item"), new string?[] { "x", "  " }));
        e = Assert.Throws<DataFormatException>(() => GenericFormat.Load(emptyItem));
        Assert.StartsWith($"{emptyItem}, row 2: empty item id", e.Message);
    }

    [Fact]
    public async Task Schema_errors_name_the_file_and_the_columns()
    {
        string noItem = _tmp.File("no-item.parquet");
        await WriteParquet(noItem, 8, (new DataField<string>("user"), new string?[] { "a" }), (new DataField<long>("product"), new long[] { 1 }));
        var e = Assert.Throws<DataFormatException>(() => GenericFormat.Load(noItem));
        Assert.StartsWith($"{noItem}: no user or no item column (columns: user, product)", e.Message);

        string doubleIds = _tmp.File("double-ids.parquet");
        await WriteParquet(doubleIds, 8, (new DataField<string>("user"), new string?[] { "a" }), (new DataField<double>("item"), new[] { 1.5 }));
        e = Assert.Throws<DataFormatException>(() => GenericFormat.Load(doubleIds));
        Assert.StartsWith($"{doubleIds}: column 'item' has type Double, which cannot hold item ids", e.Message);

        // GenericOptions.Columns renames the columns in schema order, as it does for CSV.
        var d = GenericFormat.Load(noItem, options: new GenericOptions { Columns = ["user", "item"] });
        Assert.Equal(["1"], d.Items.Originals);
    }

    static void AssertSameDataset(Dataset expected, Dataset actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Users.Originals, actual.Users.Originals);
        Assert.Equal(expected.Items.Originals, actual.Items.Originals);
        AssertSameInteractions(expected.Interactions, actual.Interactions);
    }

    static void AssertSameInteractions(Interactions expected, Interactions actual)
    {
        Assert.Equal(expected.Users, actual.Users);
        Assert.Equal(expected.Items, actual.Items);
        Assert.Equal(expected.Ratings, actual.Ratings);
        Assert.Equal(expected.Timestamps, actual.Timestamps);
    }
}
