using System.Reflection;
using GestaltLab.Runtime;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace GestaltLab.Regions;

/// <summary>
/// Wraps a <see cref="CustomMappingEstimator{TSrc, TDst}"/> whose input has an image column. ML.NET 5.0.1's
/// <c>CustomMappingEstimator.GetOutputSchema</c> compares column item types by reference, and every
/// <c>LoadImages</c> makes its own <c>ImageDataViewType</c> instance, so an estimator chain holding a custom mapping
/// that takes an <c>MLImage</c> fails schema propagation ("expected Image, got Image"). This wrapper propagates the
/// schema with value equality and fits to the unchanged <see cref="CustomMappingTransformer{TSrc, TDst}"/>, so saved
/// models are ordinary custom mappings that reload through the registered factories.
/// </summary>
internal sealed class FaceStepEstimator<TSrc, TDst>(CustomMappingEstimator<TSrc, TDst> inner, string stepName) : IEstimator<ITransformer>
    where TSrc : class, new()
    where TDst : class, new()
{
    private static readonly MethodInfo CreateShape = typeof(SchemaShape).GetMethod("Create",
        BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic, [typeof(DataViewSchema)])
        ?? throw new MissingMethodException("SchemaShape.Create(DataViewSchema) not found in this ML.NET version");

    public ITransformer Fit(IDataView input) => inner.Fit(input);

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        var input = inputSchema.ToDictionary(c => c.Name);
        foreach (var col in SchemaDefinition.Create(typeof(TSrc), SchemaDefinition.Direction.Read))
        {
            if (!input.TryGetValue(col.ColumnName, out var found))
                throw new GestaltLabException($"{stepName}: the input has no column '{col.ColumnName}' (columns: {string.Join(", ", input.Keys)})",
                    $"add the steps that make '{col.ColumnName}' before {stepName}");
            var want = col.ColumnType is VectorDataViewType v ? v.ItemType : col.ColumnType;
            if (want is not null && !want.Equals(found.ItemType))
                throw new GestaltLabException($"{stepName}: column '{col.ColumnName}' is {found.ItemType}, expected {want}");
        }
        var builder = new DataViewSchema.Builder();
        foreach (var col in SchemaDefinition.Create(typeof(TDst), SchemaDefinition.Direction.Write))
            builder.AddColumn(col.ColumnName, col.ColumnType);
        var added = (SchemaShape)CreateShape.Invoke(null, [builder.ToSchema()])!;
        foreach (var c in added) input[c.Name] = c;
        return new SchemaShape(input.Values);
    }
}
