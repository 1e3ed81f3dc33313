namespace GestaltLab.Notebooks;
